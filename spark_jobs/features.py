"""spark-submit entry point: silver + arrived labels -> gold features (point-in-time).

spark-submit spark_jobs/features.py --date 2026-01-03
"""

import sys

from evergreen.jobs import run_step

if __name__ == "__main__":
    sys.exit(run_step("features", sys.argv[1:]))
