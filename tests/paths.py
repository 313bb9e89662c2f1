"""The checkout the tests run from: tests read repository files (DAGs, compose, scripts); the package does not."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO / "dags"
