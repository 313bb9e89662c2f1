"""The Evergreen page's FastAPI app, mounted by Airflow's api-server at /evergreen.

Every route needs an Airflow user (the UI's `_token` cookie reaches the iframe; API clients send a Bearer
token): anonymous -> 401, a bad token -> 403. Rolling back needs permission to trigger `rollback_model` (a
viewer gets 403); the run tab needs read access to the DAG's runs. Drift reports and Data Docs are files in
EVERGREEN_HOME, served here behind the same login. The app has no OpenAPI/docs routes: those would be public.

The page only reads. Its one action, rollback, triggers the `rollback_model` DAG (in-process, the way Airflow's
own trigger endpoint does) with the signed-in user's name as `requested_by`; the DAG moves the alias and writes
the audit row.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse

from evergreen_ui import data, render
from evergreen_ui.data import read

ROLLBACK_DAG = "rollback_model"
# Our pages carry no script at all; the CSP says so, and keeps them in Airflow's own frame.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def html(text: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status_code, headers={"Content-Security-Policy": CSP})


def known(model: str) -> str:
    if model not in data.known_models():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model spec named {model!r}")
    return model


def can_trigger(user: Any, dag_id: str) -> bool:
    # AuthManagerDep fails inside a plugin's sub-app (its state has no auth manager); ask the api-server's own.
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


def same_origin(request: Request) -> None:
    """A form POST must come from a page of this server (the cookie is SameSite=Lax already; belt and braces).

    Behind a reverse proxy the browser's host arrives as X-Forwarded-Host; either one matching is enough.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    hosts = {request.headers.get("host", ""), *request.headers.get("x-forwarded-host", "").split(",")}
    if origin and urlsplit(origin).netloc not in {h.strip() for h in hosts if h.strip()}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")


def create_app() -> FastAPI:
    app = FastAPI(title="Evergreen", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index(user: GetUserDep) -> HTMLResponse:
        return html(render.index([overview(m) for m in data.known_models()], user.get_name()))

    @app.get("/models/{model}/", response_class=HTMLResponse)
    def model_page(model: str, user: GetUserDep) -> HTMLResponse:
        model = known(model)
        ctx = {
            "spec": data.spec(model),
            "user": user.get_name(),
            "mlflow": data.mlflow_ui_url(),
            "versions": read("the registry's aliases", lambda: data.versions(model)),
            "registered": read("the registered versions", lambda: data.registered_versions(model)),
            "promotions": read("the promotion audit", lambda: data.promotions(model)),
            "drift": read("the drift reports", lambda: data.drift_reports(model)),
            "events": read("the drift event ledger", lambda: data.drift_events(model)),
            "health": read("the lake's data health", data.data_health),
            "can_rollback": can_trigger(user, ROLLBACK_DAG),
            "docs_link": data.data_docs_link,
        }
        return html(render.model_page(ctx))

    @app.get("/models/{model}/drift/{day}", response_class=HTMLResponse)
    def drift_report(model: str, day: str, user: GetUserDep) -> FileResponse:
        model = known(model)
        path = data.drift_report_file(model, day) if DAY.match(day) else None
        if path is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no drift report of {model} for {day}")
        return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": CSP})

    @app.get("/datadocs/{path:path}")
    def data_docs(path: str, user: GetUserDep) -> FileResponse:
        from pathlib import Path

        target = data.inside(data.data_docs_root(), Path(path)) if path and not path.startswith("/") else None
        if target is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Data Docs file")
        return FileResponse(target)

    @app.post(
        "/models/{model}/rollback",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=ROLLBACK_DAG))],
    )
    def rollback(
        model: str,
        request: Request,
        user: GetUserDep,
        reason: Annotated[str, Form(max_length=500)],
        to_version: Annotated[str, Form(max_length=32)] = "",
    ) -> HTMLResponse:
        same_origin(request)
        model = known(model)
        reason, to_version = reason.strip(), to_version.strip()
        if len(reason) < 3:
            return html(render.message("Rollback refused", "A rollback needs a reason (3 characters or more)."), 400)
        if to_version and to_version not in data.registered_versions(model):
            return html(render.message("Rollback refused", f"{model} has no version {to_version}."), 400)
        conf = {"model": model, "to_version": to_version or None, "reason": reason, "requested_by": user.get_name()}
        from evergreen_ui.actions import RollbackNotStartedError, trigger_rollback

        try:
            run = trigger_rollback(conf, user.get_name())
        except RollbackNotStartedError as err:
            return html(render.message("Rollback not started", str(err)), err.status_code)
        return html(render.rollback_requested(model, run, data.dag_is_paused(ROLLBACK_DAG)), 202)

    @app.get(
        "/runs/{dag_id}/{run_id}",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    )
    def run_tab(dag_id: str, run_id: str, user: GetUserDep) -> HTMLResponse:
        from evergreen_ui.runs import run_view

        run = data.dag_run(dag_id, run_id)
        if run is None:
            return html(render.message("No such run", f"{dag_id} has no run {run_id}.", "../../../"), 404)
        return html(render.run_tab(dag_id, run_id, run_view(run)))

    return app


def overview(model: str) -> dict[str, Any]:
    """One row of the index: champion, last decision, last drift window, pending events (errors shown, not raised)."""
    row: dict[str, Any] = {
        "name": model,
        "description": "",
        "primary": "pr_auc",
        "champion": None,
        "latest_decision": None,
        "last_window": None,
        "pending_events": 0,
        "error": None,
    }
    try:
        spec = data.spec(model)
        row.update(description=spec.description, primary=spec.metric.primary)
        row["champion"] = data.versions(model).get("champion")
        decisions = data.promotions(model)
        row["latest_decision"] = decisions[0] if decisions else None
        windows = data.drift_reports(model)
        row["last_window"] = windows[-1] if windows else None
        row["pending_events"] = sum(1 for ev in data.drift_events(model) if ev["status"] in ("armed", "queued"))
    except Exception as err:  # one broken model must not hide the others
        data.log.exception("evergreen index: %s", model)
        row["error"] = f"{type(err).__name__}: {err}"
    return row
