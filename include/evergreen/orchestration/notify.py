"""People are told: task failures, promotion decisions and drift fires, by e-mail through Airflow's notifier
interface (the SMTP provider's `SmtpNotifier`), configured by one Airflow connection.

The connection `evergreen_smtp` (e.g. `AIRFLOW_CONN_EVERGREEN_SMTP`, conn type `smtp`) names the server
(host, port, login, password) and, in its extra, the sender and the recipients:
`{"from_email": "evergreen@example.com", "to": "team@example.com, oncall@example.com", "disable_ssl": true}`.
With no such connection, a notification is logged and nothing else happens. A notification never fails the
task that sends it: a mail server that is down is a warning in the task's log, not a failed training.

Every message says what happened to which model and version, why, and where to look: the Airflow run
(`[api] base_url`) and the MLflow run (a link when the tracking URI is a server).
"""

from __future__ import annotations

import html
import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("evergreen.notify")

CONNECTION = "evergreen_smtp"
FIELDS = ("model", "version", "reason", "airflow_run", "mlflow_run")


def _connection(conn_id: str):
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id)
    except Exception:  # AirflowNotFoundException, or no way to ask (outside a task): not configured
        return None


def airflow_run_url(dag_id: str | None, run_id: str | None) -> str | None:
    if not dag_id or not run_id:
        return None
    from urllib.parse import quote

    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def mlflow_run_url(run_id: str | None) -> str | None:
    if not run_id:
        return None
    from evergreen.registry.store import run_url

    try:
        return run_url(run_id)
    except Exception:  # a registry hiccup must not cost the message
        return f"mlflow run {run_id}"


def _current_context() -> dict[str, Any]:
    try:
        from airflow.sdk import get_current_context

        return dict(get_current_context())
    except Exception:  # not inside a task (CLI rollback, a test): no run to link
        return {}


def message(kind: str, fields: dict[str, Any]) -> tuple[str, str]:
    """Subject and HTML body: one line per field, links clickable."""
    model = fields.get("model") or "-"
    version = fields.get("version") or "-"
    subject = f"[evergreen] {kind}: {model} v{version}"
    if fields.get("headline"):
        subject += f" - {fields['headline']}"
    rows = []
    for key in (*FIELDS, *(k for k in fields if k not in FIELDS and k != "headline")):
        value = fields.get(key)
        text = "-" if value is None else str(value)
        shown = (
            f'<a href="{html.escape(text)}">{html.escape(text)}</a>' if text.startswith("http") else html.escape(text)
        )
        rows.append(f"<tr><th align='left'>{html.escape(key)}</th><td>{shown}</td></tr>")
    return subject[:200], f"<p>{html.escape(subject)}</p><table>{''.join(rows)}</table>"


def send(kind: str, fields: dict[str, Any], context: dict[str, Any] | None = None, conn_id: str = CONNECTION) -> bool:
    """Send one notification; True if the mail server took it. Never raises."""
    try:
        context = context if context is not None else _current_context()
        if "airflow_run" not in fields and context.get("dag_run") is not None:
            dag_run = context["dag_run"]
            fields = {**fields, "airflow_run": airflow_run_url(dag_run.dag_id, dag_run.run_id)}
        subject, body = message(kind, fields)
        conn = _connection(conn_id)
        if conn is None:
            log.info("notification (no connection %r configured, not sent): %s", conn_id, subject)
            return False
        extra = conn.extra_dejson
        to = [a.strip() for a in str(extra.get("to") or "").split(",") if a.strip()]
        if not to:
            log.warning("notification not sent: connection %r has no recipients (extra.to): %s", conn_id, subject)
            return False
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifier = SmtpNotifier(
            to=to,
            from_email=extra.get("from_email") or f"evergreen@{conn.host or 'localhost'}",
            subject=subject,
            html_content=body,
            smtp_conn_id=conn_id,
        )
        notifier.notify(context)
        log.info("notification sent to %s: %s", ", ".join(to), subject)
        return True
    except Exception as e:  # a notification must never fail the task that sends it
        log.warning("notification %s not sent (%s: %s)", kind, type(e).__name__, e)
        return False


def promotion(decision: dict[str, Any], context: dict[str, Any] | None = None) -> bool:
    """A promotion decision (promote, reject, force_promote, rollback), as the registry recorded it."""
    kind = decision.get("decision") or "decision"
    fields = {
        "model": decision.get("model"),
        "version": decision.get("challenger_version"),
        "reason": decision.get("reason"),
        "mlflow_run": mlflow_run_url(decision.get("run_id")),
        "headline": kind,
        "decision": kind,
        "replaced_champion": decision.get("champion_version"),
        "actor": decision.get("actor"),
    }
    return send("promotion decision", fields, context)


def drift_fire(report: dict[str, Any], published: dict[str, Any] | None, context: dict[str, Any] | None = None) -> bool:
    fields = {
        "model": report.get("model"),
        "version": report.get("model_version"),
        "reason": "; ".join(report.get("reasons") or []) or report.get("rule"),
        "headline": f"drift on {report.get('window')}",
        "window": report.get("window"),
        "event": (published or {}).get("event_id") or (published or {}).get("reason") or "not published",
    }
    return send("drift fired", fields, context)


# The tasks whose lists the per-model groups are expanded over (dags/retrain.py, dags/score_and_watch.py).
MAPPED_OVER = ("plan", "models")


class TaskFailureNotifier(BaseNotifier):
    """`on_failure_callback` of every Evergreen task (dagkit.DEFAULT_ARGS): one message per failed task."""

    template_fields = ()

    def notify(self, context) -> None:
        ti = context.get("ti") or context.get("task_instance")
        params = context.get("params") or {}
        error = context.get("exception")
        index = getattr(ti, "map_index", -1)
        where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}" + (f"[{index}]" if index >= 0 else "")
        fields = {
            "model": params.get("model") or _mapped_model(context),
            "version": None,
            "reason": f"{type(error).__name__}: {error}" if error else "task failed",
            "headline": f"{where} failed",
            "task_log": getattr(ti, "log_url", None),
            "try": getattr(ti, "try_number", None),
        }
        send("task failed", fields, dict(context))


def _mapped_model(context) -> str | None:
    """The model a mapped per-model task was for, when the form named none: the element at this task's map
    index of the list its group was expanded over (retrain's `plan`, score_and_watch's `models`)."""
    ti = context.get("ti") or context.get("task_instance")
    index = getattr(ti, "map_index", -1)
    if ti is None or index is None or index < 0:
        return None
    for source in MAPPED_OVER:
        try:
            items = ti.xcom_pull(task_ids=source)
        except Exception as e:  # a notification must go out even when this lookup cannot work
            log.debug("no model from %s for the failure notification: %s", source, e)
            continue
        if isinstance(items, list) and index < len(items):
            item = items[index]
            return str(item.get("model")) if isinstance(item, dict) else str(item)
    return None
