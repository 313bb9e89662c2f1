"""A spark-submit application for the crash tests: the packaged step, paused between staging and commit.

    spark-submit tests/paused_spark_job.py SECONDS STEP --date D

The pause lives here, in the tests, so the production write path carries no fault-injection switch.
"""

import sys
import time

from evergreen.pipeline.jobs import run_step

if __name__ == "__main__":
    pause, step, *rest = sys.argv[1:]
    sys.exit(run_step(step, rest, before_commit=lambda _stage: time.sleep(float(pause))))
