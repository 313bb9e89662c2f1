"""How fast is drift scoring at 1M rows: whylogs profile + Hellinger vs the same Hellinger in numpy/pandas?

    .venv/bin/python bench/drift_speed.py [--rows 1000000] [--repeats 2]

Data: the fraud spec's 22 feature columns plus a `score`, from `evergreen.devtools.synthetic_gold` (gold-shaped,
nulls included). The reference profile is built once per arm (untimed: it is built at training time);
each timed step is what the watch task does per window: profile the day's rows, score them against the
reference. The baseline computes the same measure directly on the raw columns (reference-quantile bins
with np.quantile + np.searchsorted, a null bin, value shares for categoricals): it needs the reference
rows kept around, the profile does not. Each arm runs in its own child process, so peak RSS
(getrusage ru_maxrss) is per arm. Single runs on a shared 2-core machine: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")

ARMS = ("whylogs", "numpy")
BINS = 20


def frames(rows: int):
    import numpy as np

    from evergreen.contracts.model_spec import load_spec
    from evergreen.devtools.synthetic_gold import synthetic_gold

    spec = load_spec("fraud")
    days = 10
    table = synthetic_gold("2026-01-01", days * 2, max(rows // days, 1), spec=spec)
    frame = table.to_pandas()
    rng = np.random.default_rng(1)
    frame["score"] = rng.beta(0.3, 20.0, len(frame))
    cols = [*spec.features.names, "score"]
    half = frame["event_date"].astype(str) < "2026-01-11"
    ref, cur = frame.loc[half, cols].reset_index(drop=True), frame.loc[~half, cols].reset_index(drop=True)
    return spec, ref, cur


def numpy_scores(ref, cur, categorical: set[str]) -> dict[str, float]:
    """The same Hellinger on the raw columns: the cheapest honest baseline (one pass per column)."""
    import numpy as np
    import pandas as pd

    out = {}
    for name in ref.columns:
        if name in categorical:
            p = ref[name].value_counts(dropna=False, normalize=True)
            q = cur[name].value_counts(dropna=False, normalize=True)
            p, q = p.align(q, fill_value=0.0)
        else:
            r, c = ref[name].to_numpy(dtype=float), cur[name].to_numpy(dtype=float)
            edges = np.unique(np.nanquantile(r, np.linspace(0, 1, BINS + 1)[1:-1]))
            p, q = (
                np.r_[np.isnan(x).mean(), np.bincount(np.searchsorted(edges, x[~np.isnan(x)], side="right"),
                                                       minlength=len(edges) + 1) / len(x)]
                for x in (r, c)
            )  # fmt: skip
            p, q = pd.Series(p), pd.Series(q)
        out[name] = float(np.sqrt(0.5 * ((np.sqrt(p.to_numpy()) - np.sqrt(q.to_numpy())) ** 2).sum()))
    return out


def run_arm(arm: str, rows: int, repeats: int) -> dict:
    spec, ref, cur = frames(rows)
    categorical = set(spec.features.categorical)
    times, cpu, split = [], [], {}
    if arm == "whylogs":
        from evergreen.monitoring.profiles import detector

        det = detector(spec)
        reference = det.profile(ref)
        det.scores(reference, det.profile(cur.head(1000)))  # warm-up: lazy imports, first-call costs
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            current = det.profile(cur)
            profiled = time.perf_counter()
            scores = det.scores(reference, current)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            split = {"profile_s": profiled - t, "scores_s": time.perf_counter() - profiled}
        profile_bytes = len(reference)
    else:
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            scores = numpy_scores(ref, cur, categorical)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        profile_bytes = int(ref.memory_usage(deep=True).sum())  # the baseline must keep the reference rows
    return {
        "rows": len(cur),
        "reference_rows": len(ref),
        "wall": times,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reference_bytes": profile_bytes,
        "scores": scores,
        "split": split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window (the reference is as big)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--arm", choices=ARMS, help="internal: run one arm and print JSON")
    args = parser.parse_args()

    if args.arm:
        print("RESULT " + json.dumps(run_arm(args.arm, args.rows, args.repeats)))
        return

    results = {}
    for arm in ARMS:
        cmd = [sys.executable, __file__, "--arm", arm, "--rows", str(args.rows), "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{arm} run failed:\n{proc.stderr[-3000:]}")
        results[arm] = json.loads(line.removeprefix("RESULT "))

    w, n = results["whylogs"], results["numpy"]
    print(f"window rows: {w['rows']:,}  reference rows: {w['reference_rows']:,}  repeats: {args.repeats} (best of)")
    print(f"{'arm':>8} {'wall s':>8} {'cpu s':>8} {'rows/s':>12} {'peak RSS MB':>12} {'reference kept':>15}")
    for arm, r in results.items():
        print(
            f"{arm:>8} {min(r['wall']):8.2f} {min(r['cpu']):8.2f} {r['rows'] / min(r['wall']):12,.0f} "
            f"{r['peak_rss_mb']:12.0f} {r['reference_bytes'] / 2**20:12.1f} MB"
        )
    print(f"whylogs split (last repeat): {w['split']}")
    diff = max(abs(w["scores"][k] - n["scores"][k]) for k in w["scores"])
    print(
        f"whylogs/numpy: wall {min(w['wall']) / min(n['wall']):.1f}x  cpu {min(w['cpu']) / min(n['cpu']):.1f}x  "
        f"peak RSS {w['peak_rss_mb'] / n['peak_rss_mb']:.2f}x  "
        f"reference size {w['reference_bytes'] / n['reference_bytes']:.4f}x"
    )
    print(f"largest score difference between the arms (sketch error): {diff:.4f}")


if __name__ == "__main__":
    main()
