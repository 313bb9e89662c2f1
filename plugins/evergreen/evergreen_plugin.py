"""The Evergreen page in the Airflow UI: models, promotions, drift and data health, where operators already look.

Airflow imports this file in every process (scheduler, dag-processor, triggerer, workers, api-server), so its
top level stays cheap: no database, no MLflow, not even FastAPI. The page's app is built the first time the
api-server asks for `fastapi_apps`; the views below are plain data.

- "Models" in the left navigation: the page at /evergreen/ (the trailing slash matters: without it the
  UI's catch-all answers, not this app).
- An "Evergreen" tab on every DAG run: the decision of a `retrain` run, the gates of an `ingest_daily` run,
  the audit row of a `rollback_model` run, the drift report of a `score_and_watch` run.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/evergreen"
HERE = Path(__file__).resolve().parent


@cache
def _apps() -> list[dict[str, Any]]:
    # The page's package sits beside this file; Airflow only puts the plugins folder itself on sys.path.
    if str(HERE) not in sys.path:
        sys.path.append(str(HERE))
    from evergreen_ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Evergreen"}]


class EvergreenPlugin(AirflowPlugin):
    name = "evergreen"
    external_views = [
        {
            "name": "Models",
            "href": "evergreen/",
            "url_route": "models",
            "destination": "nav",
            "nav_top_level": True,
        },
        {
            "name": "Evergreen",
            "href": "evergreen/runs/{DAG_ID}/{RUN_ID}",
            "url_route": "evergreen-run",
            "destination": "dag_run",
        },
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built on first use (the api-server), so other Airflow processes never import the page."""
        return _apps()
