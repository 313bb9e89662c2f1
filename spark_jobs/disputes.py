"""spark-submit shortcut from a checkout: `spark-submit spark_jobs/disputes.py --date 2026-01-03`.

DAGs submit the packaged application instead (`evergreen.pipeline.jobs`), which needs no checkout.
"""

import sys

from evergreen.pipeline.jobs import run_step

if __name__ == "__main__":
    sys.exit(run_step("disputes", sys.argv[1:]))
