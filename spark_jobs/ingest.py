"""spark-submit entry point: landing files + source tables -> bronze, then the raw contract gate.

spark-submit spark_jobs/ingest.py --date 2026-01-03
"""

import sys

from evergreen.jobs import run_step

if __name__ == "__main__":
    sys.exit(run_step("ingest", sys.argv[1:]))
