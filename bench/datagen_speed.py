"""How fast does the synthetic source write a million transactions? (a benchmark, not a test)

    .venv/bin/python bench/datagen_speed.py                 # 1 day x 1,000,000 rows
    .venv/bin/python bench/datagen_speed.py --days 5 --rows-per-day 200000

Times the whole of `generate`: population, transactions, dirt, both landing files, the label feed, the
source tables in SQLite and the manifest. The budget is 30 s for 1M rows on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from evergreen.devtools.datagen import generate

BUDGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1))  # a Thursday: weight 1.0
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="datagen-bench-") as tmp:
        began = time.perf_counter()
        manifest = generate(
            args.start,
            args.days,
            args.rows_per_day,
            seed=args.seed,
            landing_root=str(Path(tmp) / "landing"),
            db_url=f"sqlite:///{tmp}/source.db",
        )
        wall = time.perf_counter() - began
        bytes_written = sum(p.stat().st_size for p in Path(tmp, "landing").rglob("*") if p.is_file())

    rows = sum(d["rows"] for d in manifest["days"])
    fraud = sum(d["fraud"] for d in manifest["days"])
    transactions = sum(d["transactions"] for d in manifest["days"])
    # ru_maxrss is KiB on Linux (bytes on macOS).
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)
    print(f"days x rows/day : {args.days} x {args.rows_per_day:,}")
    print(f"rows written    : {rows:,} ({transactions:,} transactions + re-sends), {bytes_written / 2**20:.0f} MiB")
    print(f"wall time       : {wall:.1f} s (budget {BUDGET_S:.0f} s)")
    print(f"throughput      : {rows / wall:,.0f} rows/s")
    print(f"peak memory     : {peak_mib:.0f} MiB (max RSS of this process)")
    print(f"fraud rate      : {fraud / transactions:.3%}")
    # The budget scales with size: 30 s per million rows written.
    return 0 if wall <= BUDGET_S * rows / 1_000_000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
