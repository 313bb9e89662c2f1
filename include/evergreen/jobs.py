"""What every spark_jobs/*.py entry point does: parse args, build one session, run one daily step.

Kept here (not in each entry point) so the three jobs cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

STEPS = ("ingest", "clean", "features")
# Fault injection for the crash test: sleep between staging and commit so a test can kill the job there.
PAUSE_ENV = "EVERGREEN_FAULT_PAUSE_BEFORE_COMMIT"


def run_step(step: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"spark_jobs/{step}.py", description=f"Evergreen daily step: {step}")
    parser.add_argument("--date", required=True, help="the day to process, YYYY-MM-DD")
    if step == "ingest":
        parser.add_argument("--landing", default=None, help="a landing folder (local or s3a://) to read instead")
    # Templated args render to "" when an optional Param is empty: drop those rather than fail.
    args = parser.parse_args([a for a in argv if a])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from evergreen import daily
    from evergreen.sparkutil import spark_session

    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    hook = (lambda _stage: time.sleep(pause)) if pause else None
    started = time.time()
    spark = spark_session(f"evergreen-{step}-{args.date}")
    try:
        kwargs = {"before_commit": hook}
        if step == "ingest":
            kwargs["landing"] = args.landing
        report = getattr(daily, f"{step}_day")(spark, args.date, **kwargs)
    except FileNotFoundError as exc:  # a missing input is the caller's to fix: say it in one line
        print(f"evergreen {step} {args.date}: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    summary = {k: v for k, v in report.items() if k not in ("files",)}
    summary["seconds"] = round(time.time() - started, 1)
    print(json.dumps(summary, default=str))
    return 0
