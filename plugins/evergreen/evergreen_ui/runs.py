"""The "Evergreen" tab on a DAG run: what that run decided, in Evergreen's own records.

- retrain: the promotion decisions it took (audit rows whose `triggered_by.run_id` is this run) and the drift
  events it consumed or covered (the ledger's rows for this run);
- ingest_daily: the day it processed and that day's gates (step reports, Data Docs);
- rollback_model: the audit row it wrote;
- score_and_watch: the drift window it watched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from evergreen_ui import data, render
from evergreen_ui.render import e

ROOT = "../../"  # from /evergreen/runs/<dag>/<run> to /evergreen/


def run_view(run: dict[str, Any]) -> str:
    view = VIEWS.get(run["dag_id"])
    state = f"<p class='muted'>What Evergreen recorded for this run ({render.badge(run['state'] or 'unknown')})"
    if run.get("triggering_user_name"):
        state += f", triggered by {e(run['triggering_user_name'])}"
    state += ".</p>"
    if view is None:
        return state + "<p class='empty'>Evergreen keeps nothing about runs of this DAG.</p>"
    return state + view(run)


def retrain(run: dict[str, Any]) -> str:
    decisions = data.decisions_of_run(run["run_id"])
    models = sorted({d["model"] for d in decisions} | set(data.known_models()))
    events = [ev for m in models for ev in data.events_of_run(run["run_id"], m)]
    primary = data.spec(decisions[0]["model"]).metric.primary if decisions else "pr_auc"
    out = ["<h2>Decision</h2>"]
    if decisions:
        out.append(render.decision_cards(decisions, ROOT, primary))
        out.append(
            "".join(
                f"<p>{e(d['model'])}: <a href='{ROOT}models/{quote(d['model'], safe='')}/#promotions'>promotion "
                "history</a></p>"
                for d in decisions[:1]
            )
        )
    else:
        out.append(
            "<p class='empty'>No decision recorded for this run: it is still running, its plan skipped the "
            "training (cooldown: the log says which run already trained on this data), or it failed before the "
            "challenge (then its drift events were given back).</p>"
        )
    out.append("<h2>Drift events this run took</h2>")
    if events:
        out.append(
            "<table class='ledger'><tr><th>Event</th><th>Model</th><th>Window</th><th>Status</th><th>Why</th></tr>"
            + "".join(
                f"<tr><td><code>{e(ev['event_id'])}</code></td><td>{e(ev['model'])}</td><td>{e(ev['drift_window'])}</td>"
                f"<td>{render.badge(ev['status'])}</td><td class='reason'>{e(ev['reason'])}</td></tr>"
                for ev in events
            )
            + "</table>"
        )
    else:
        out.append("<p class='empty'>None: a cron, new-data or manual run.</p>")
    return "".join(out)


def ingest_daily(run: dict[str, Any]) -> str:
    day = data.day_of_ingest_run(run)
    out = [
        f"<h2>Gates of {e(day)}</h2><p class='muted'>The day's step reports as they stand now (a later run of the "
        "same day replaces them).</p>"
    ]
    for step in ("ingest", "clean", "features"):
        out.append(render.step_report_block(step, data.step_report(day, step), ROOT, data.data_docs_link))
    return "".join(out)


def rollback_model(run: dict[str, Any]) -> str:
    decisions = data.decisions_of_run(run["run_id"])
    conf = render.e(", ".join(f"{k}={v}" for k, v in sorted(run["conf"].items())))
    out = [f"<h2>Rollback</h2><p class='muted'>Requested with {conf}</p>"]
    if decisions:
        primary = data.spec(decisions[0]["model"]).metric.primary
        out.append(render.decision_cards(decisions, ROOT, primary))
    else:
        out.append(
            "<p class='empty'>No audit row from this run: it has not run yet, or it was refused (see its log).</p>"
        )
    return "".join(out)


def score_and_watch(run: dict[str, Any]) -> str:
    """Each model the run watched (one mapped group each), and each of its days' drift verdicts."""
    models = data.xcom(run["dag_id"], run["run_id"], "models")
    if models is None:
        models = [run["conf"]["model"]] if run["conf"].get("model") else []
    if not models:
        return "<p class='empty'>This run has not listed its models yet.</p>"
    days = data.mapped_xcoms(run["dag_id"], run["run_id"], "watch_model.resolve_days")
    out = []
    for index, model in enumerate(models):
        if index not in days:
            out.append(f"<p class='empty'>{e(model)}: no day resolved (failed or skipped: see its tasks).</p>")
        for day in days.get(index) or []:
            out.append(_drift_window(str(model), str(day)))
    return "".join(out)


def _drift_window(model: str, day: str) -> str:
    rows = [r for r in data.drift_reports(model) if r["window_day"] == day]
    if not rows:
        return f"<p class='empty'>No drift report of {e(model)} for {e(day)} yet.</p>"
    r = rows[0]
    verdict = "fires" if r["fires"] else "breach" if r["breached"] else "ok"
    reasons = "".join(f"<li>{e(x)}</li>" for x in r["reasons"] or []) or "<li>none</li>"
    link = f"{ROOT}models/{quote(model, safe='')}/drift/{quote(day, safe='')}"
    return (
        f"<h2>Drift window {e(day)} of {e(model)}</h2><p>{render.badge(verdict)} scored by v{e(r['model_version'])}; "
        f"prediction drift {render.num(r['prediction_drift'], 3)}</p><ul>{reasons}</ul>"
        f"<p><a href='{e(link)}'>The day's drift report</a></p>"
    )


VIEWS = {
    "retrain": retrain,
    "ingest_daily": ingest_daily,
    "rollback_model": rollback_model,
    "score_and_watch": score_and_watch,
}
