"""spark-submit entry point: bronze -> silver (+ quarantine), then the clean quality gate.

spark-submit spark_jobs/clean.py --date 2026-01-03
"""

import sys

from evergreen.jobs import run_step

if __name__ == "__main__":
    sys.exit(run_step("clean", sys.argv[1:]))
