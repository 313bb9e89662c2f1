"""The spark-submit application of the daily steps: parse args, build one session, run one step.

It ships inside the package, so a DAG finds it with `importlib.resources` (`application_path()`), not
through a repository checkout: the same file runs from an editable install, a wheel or a cluster driver.

    spark-submit <site-packages>/evergreen/pipeline/jobs.py ingest --date 2026-01-03
    spark-submit <site-packages>/evergreen/pipeline/jobs.py disputes_gold --date 2026-01-20 --since 2026-01-18

`spark_jobs/*.py` at the top of the repository are one-line shortcuts to it for people working in a checkout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from importlib import resources

STEPS = ("ingest", "clean", "features", "disputes", "disputes_gold")
# Steps that may catch up several days in one job: every day from --since to --date.
RANGE_STEPS = ("disputes", "disputes_gold")


def application_path() -> str:
    """This file, as spark-submit's `application`."""
    return str(resources.files("evergreen.pipeline").joinpath("jobs.py"))


def parse(step: str, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"evergreen {step}", description=f"Evergreen daily step: {step}")
    parser.add_argument("--date", required=True, help="the day to process, YYYY-MM-DD")
    if step == "ingest":
        parser.add_argument("--landing", default=None, help="a landing folder (local or s3a://) to read instead")
    if step in RANGE_STEPS:
        parser.add_argument("--since", default=None, help="the first day of a catch-up, YYYY-MM-DD (default: --date)")
    # Templated args render to "" when an optional Param is empty: drop those rather than fail.
    return parser.parse_args([a for a in argv if a])


def run_step(step: str, argv: list[str], *, before_commit=None) -> int:
    """Run one step for one day; `before_commit` is the crash tests' hook (called after staging)."""
    if step not in STEPS:
        print(f"evergreen: unknown step {step!r}; expected one of {', '.join(STEPS)}", file=sys.stderr)
        return 2
    args = parse(step, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from evergreen.pipeline import steps
    from evergreen.pipeline.spark import spark_session

    started = time.time()
    spark = spark_session(f"evergreen-{step}-{args.date}")
    try:
        kwargs = {"before_commit": before_commit}
        if step == "ingest":
            kwargs["landing"] = args.landing
        if step in RANGE_STEPS:
            kwargs["since"] = args.since
        report = getattr(steps, f"{step}_day")(spark, args.date, **kwargs)
    except FileNotFoundError as exc:  # a missing input is the caller's to fix: say it in one line
        print(f"evergreen {step} {args.date}: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    summary = {k: v for k, v in report.items() if k not in ("files",)}
    summary["seconds"] = round(time.time() - started, 1)
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(f"usage: spark-submit jobs.py {{{'|'.join(STEPS)}}} --date YYYY-MM-DD", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_step(sys.argv[1], sys.argv[2:]))
