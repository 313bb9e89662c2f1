"""HTML of the Evergreen pages, rendered on the server.

Every value from a store (registry tags, audit reasons, event ids, gate reasons, user names) goes through
`e()` (html.escape, quotes included) before it reaches the page, and every path segment through `q()`.
Links are relative, so the page works under any base URL; links to Airflow's own pages leave the UI's iframe
(`target="_top"`), links to MLflow open a new tab.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from evergreen_ui import charts
from evergreen_ui.data import Section

ALIAS_TITLES = {"champion": "Champion", "challenger": "Challenger", "previous_champion": "Previous champion"}
PROMOTING = ("promote", "force_promote")
DASH = "&ndash;"  # what a missing value shows

STYLE = """
:root { color-scheme: light; --ok:#1e7e34; --bad:#c0392b; --warn:#b9770e; --muted:#666; --line:#ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 16px 22px;
       color: #1a1a1a; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; } h3 { font-size: 15px; margin: 0 0 6px; }
a { color: #0b5cad; } .muted, .empty { color: var(--muted); } .empty { font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f6f8; font-weight: 600; white-space: nowrap; } td.num, th.num { text-align: right;
     font-variant-numeric: tabular-nums; white-space: nowrap; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 12px; }
.card table { font-size: 13px; } .card th, .card td { padding: 2px 6px; } table.compact { width: auto; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card.champion { border-color: #2e8b57; box-shadow: 0 0 0 1px #2e8b57 inset; }
.card .version { font-size: 20px; font-weight: 700; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600;
         background: #eee; white-space: nowrap; }
.badge.promote, .badge.passed, .badge.consumed, .badge.covered, .badge.ok, .badge.success
       { background:#d8f0de; color:var(--ok); }
.badge.reject, .badge.failed, .badge.fires, .badge.dead_letter_failed { background:#f9d6d2; color:var(--bad); }
.badge.force_promote, .badge.rollback, .badge.partial, .badge.breach, .badge.armed, .badge.queued
       { background:#fcebc8; color:var(--warn); }
tr.failed td { background: #fdecea; } tr.partial td { background: #fff6e0; } tr.fires td { background: #fdecea; }
tr.breach td { background: #fff6e0; }
.reason { max-width: 560px; min-width: 16em; } td.day { white-space: nowrap; } .scroll { overflow-x: auto; }
code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.note { background: #f5f6f8; border-left: 3px solid #888; padding: 6px 10px; margin: 8px 0; }
.error { background: #fdecea; border-left: 3px solid var(--bad); padding: 6px 10px; margin: 8px 0; }
form.rollback { display: flex; gap: 8px; align-items: end; flex-wrap: wrap; margin: 8px 0; }
form.rollback label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
form.rollback input[type=text] { min-width: 320px; }
button { padding: 5px 12px; border-radius: 6px; border: 1px solid #b03a2e; background: #c0392b; color: #fff;
         cursor: pointer; }
nav.models a { margin-right: 12px; } .chart { max-width: 1100px; display: block; }
svg a.day-link:hover rect { fill: rgba(0, 0, 0, 0.06); }
"""


def e(value: Any) -> str:
    """Escaped text; None as a dash."""
    return DASH if value is None else escape(str(value))


def q(segment: Any) -> str:
    """One URL path segment, percent-encoded (slashes too)."""
    return quote(str(segment), safe="")


def num(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, bool):
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return e(value)


def badge(text: Any, kind: str | None = None) -> str:
    kind = kind if kind is not None else str(text)
    return f'<span class="badge {e(kind)}">{e(text)}</span>'


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def error_box(section: Section) -> str:
    return f'<div class="error">{e(section.error)}</div>' if section.error else ""


def airflow_run_link(root: str, dag_id: str | None, run_id: str | None) -> str:
    if not dag_id or not run_id:
        return '<span class="muted">outside Airflow</span>'
    href = f"{root}../dags/{q(dag_id)}/runs/{q(run_id)}"
    return f'<a href="{e(href)}" target="_top" class="airflow-run">{e(dag_id)} / {e(run_id)}</a>'


def mlflow_links(mlflow: str, card: dict[str, Any]) -> str:
    links = []
    if card.get("experiment_id") and card.get("run_id"):
        href = f"{mlflow}/#/experiments/{q(card['experiment_id'])}/runs/{q(card['run_id'])}"
        links.append(f'<a href="{e(href)}" target="_blank" rel="noopener" class="mlflow-run">MLflow run</a>')
    href = f"{mlflow}/#/models/{q(card['model'])}/versions/{q(card['version'])}"
    links.append(f'<a href="{e(href)}" target="_blank" rel="noopener">MLflow version</a>')
    return " · ".join(links)


# ---- index -------------------------------------------------------------------------------------------------
def index(models: list[dict[str, Any]], user: str) -> str:
    rows = []
    for m in models:
        champion = m["champion"]
        latest = m["latest_decision"]
        holdout = "holdout_" + m["primary"]
        last_window = m["last_window"]
        window = (
            DASH
            if not last_window
            else f"{e(last_window['window_day'])} "
            + (badge("fires") if last_window["fires"] else badge("breach") if last_window["breached"] else badge("ok"))
        )
        rows.append(
            f'<tr data-model="{e(m["name"])}"><td><a href="models/{q(m["name"])}/">{e(m["name"])}</a>'
            f'<div class="muted">{e(m["description"])}</div></td>'
            f'<td class="champion-version">{DASH if champion is None else "v" + e(champion["version"])}</td>'
            f'<td class="num">{num(None if champion is None else champion["metrics"].get(holdout))}</td>'
            f"<td>{window}</td>"
            f"<td>{DASH if latest is None else badge(latest['decision']) + ' ' + e(latest['decided_at'])}</td>"
            f'<td class="num">{m["pending_events"]}</td>'
            f"<td>{e(m['error']) if m['error'] else ''}</td></tr>"
        )
    body = (
        f'<h1>Evergreen models</h1><p class="muted">Signed in as {e(user)}. One row per model spec; open a model for '
        "its versions, promotion history, drift timeline, drift events and data health.</p>"
        "<table class='models'><tr><th>Model</th><th>Champion</th><th class='num'>holdout primary metric</th>"
        "<th>Last drift window</th><th>Last decision</th><th class='num'>Pending drift events</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
    )
    if not models:
        body += '<p class="empty">No model specs found (the built-in folder and EVERGREEN_SPECS_DIRS).</p>'
    return page("Evergreen models", body)


# ---- the model page ----------------------------------------------------------------------------------------
def model_page(ctx: dict[str, Any]) -> str:
    spec = ctx["spec"]
    root = "../../"
    body = [
        f'<nav class="models muted"><a href="{root}">All models</a></nav>',
        f"<h1>{e(spec.name)}</h1><p class='muted'>{e(spec.description)} Owner: {e(spec.owner)}. "
        f"Signed in as {e(ctx['user'])}.</p>",
        _versions(ctx, root),
        _rollback(ctx),
        _promotions(ctx, root),
        _drift(ctx),
        _ledger(ctx, root),
        _health(ctx, root),
    ]
    return page(f"Evergreen: {spec.name}", "".join(body))


def judged_metrics(promotions: list[dict[str, Any]], version: str) -> dict[str, Any] | None:
    """The metrics a version was judged on: the decision that made it champion, else its latest judgement."""
    rows = [r for r in promotions if r["challenger_version"] == version and r["challenger_metrics"]]
    chosen = next((r for r in rows if r["decision"] in PROMOTING), rows[0] if rows else None)
    return None if chosen is None else {"decision": chosen, "metrics": chosen["challenger_metrics"]}


def _versions(ctx: dict[str, Any], root: str) -> str:
    section: Section = ctx["versions"]
    spec = ctx["spec"]
    metrics = [spec.metric.primary, *spec.metric.guards]
    promotions = ctx["promotions"].value or []
    cards = []
    for alias, title in ALIAS_TITLES.items():
        card = (section.value or {}).get(alias)
        if card is None:
            cards.append(
                f'<div class="card {alias}" data-alias="{alias}"><h3>{title}</h3><p class="empty">none</p></div>'
            )
            continue
        judged = judged_metrics(promotions, card["version"])
        judged_values = judged["metrics"] if judged else {}
        metric_rows = "".join(
            f"<tr><td>{e(m)}</td><td class='num'>{num(card['metrics'].get('holdout_' + m))}</td>"
            f"<td class='num'>{num(judged_values.get(m))}</td></tr>"
            for m in metrics
        )
        decision = card.get("decision")
        decided = (
            ""
            if not decision
            else f"<p>{badge(decision['decision'])} by {e(decision['actor'])} at {e(decision['decided_at'])}<br>"
            f'<span class="reason">{e(decision["reason"])}</span></p>'
        )
        events = (
            f"<p>Trained for drift events: {', '.join('<code>' + e(x) + '</code>' for x in card['drift_events'])}</p>"
            if card["drift_events"]
            else ""
        )
        cards.append(
            f'<div class="card {alias}" data-alias="{alias}" data-version="{e(card["version"])}">'
            f'<h3>{title}</h3><div class="version">v{e(card["version"])}</div>'
            f"<p>Data as of <b>{e(card['data_as_of'])}</b> · registered {e(card['created_at'])}</p>"
            f"<table class='metrics'><tr><th>metric</th><th class='num'>holdout</th>"
            f"<th class='num'>judged</th></tr>{metric_rows}</table>"
            f"{decided}{events}"
            f"<p>{mlflow_links(ctx['mlflow'], card)}<br>Trained by "
            f"{airflow_run_link(root, card['airflow_dag_id'], card['airflow_run_id'])}</p></div>"
        )
    note = (
        "<p class='muted'><b>holdout</b> is what the training run logged on its own holdout; <b>judged</b> is what "
        "the policy compared when it decided about the version (challenger and champion scored on the same "
        "holdout), from the promotion audit.</p>"
    )
    return f"<h2 id='versions'>Versions</h2>{error_box(section)}<div class='cards'>{''.join(cards)}</div>{note}"


def _rollback(ctx: dict[str, Any]) -> str:
    versions: Section = ctx["registered"]
    current = (ctx["versions"].value or {}).get("champion")
    previous = (ctx["versions"].value or {}).get("previous_champion")
    head = "<h2 id='rollback'>Roll back</h2>"
    if not ctx["can_rollback"]:
        return (
            head + f"<p class='note'>{e(ctx['user'])} may not trigger <code>rollback_model</code>: rolling back needs "
            "permission to run that DAG (a viewer cannot).</p>"
        )
    if current is None:
        return head + "<p class='empty'>No champion to roll back.</p>"
    options = [v for v in reversed(versions.value or []) if v != current["version"]]
    if not options:
        return head + "<p class='empty'>No other version to roll back to.</p>"
    default = previous["version"] if previous else options[0]
    select = "".join(
        f'<option value="{e(v)}"{" selected" if v == default else ""}>v{e(v)}'
        f"{' (previous champion)' if previous and v == previous['version'] else ''}</option>"
        for v in options
    )
    return (
        head
        + "<p class='muted'>Triggers the <code>rollback_model</code> DAG with your name as <code>requested_by</code>; "
        "the DAG moves the alias and writes the audit row. This page never writes to the registry.</p>"
        f'<form class="rollback" method="post" action="rollback">'
        f'<label>Target version<select name="to_version">{select}</select></label>'
        f'<label>Reason (recorded in the audit trail)<input type="text" name="reason" required minlength="3" '
        f'maxlength="500"></label><button type="submit" data-testid="rollback-submit">Roll back champion '
        f"v{e(current['version'])}</button></form>{error_box(versions)}"
    )


def _promotions(ctx: dict[str, Any], root: str) -> str:
    section: Section = ctx["promotions"]
    table = decisions_table(section.value or [], root, ctx["spec"].metric.primary)
    return f"<h2 id='promotions'>Promotion history</h2>{error_box(section)}{table}"


def _trigger_lines(trig: dict[str, Any], root: str) -> list[str]:
    """What started a decision: the Airflow run, its type, who asked, the drift and asset events."""
    parts = [airflow_run_link(root, trig.get("dag_id"), trig.get("run_id")) if trig.get("run_id") else ""]
    if trig.get("run_type"):  # stored as str(DagRunType.X): "DagRunType.ASSET_TRIGGERED"
        parts.append(f"<span class='muted'>{e(str(trig['run_type']).rsplit('.', 1)[-1].lower())}</span>")
    if trig.get("requested_by"):
        parts.append(f"requested by {e(trig['requested_by'])}")
    if trig.get("triggering_user"):
        parts.append(f"triggered by {e(trig['triggering_user'])}")
    if trig.get("drift_events"):
        parts.append("drift events " + ", ".join(f"<code>{e(x)}</code>" for x in trig["drift_events"]))
    assets = [a.get("asset") for a in trig.get("asset_events") or [] if isinstance(a, dict)]
    if assets:
        parts.append("asset events: " + ", ".join(e(a) for a in dict.fromkeys(assets)))
    return [p for p in parts if p]


def decision_cards(decisions: list[dict[str, Any]], root: str, primary: str) -> str:
    """The same facts as `decisions_table`, one card each: fits the narrow run tab."""
    cards = []
    for r in decisions:
        versus = DASH if r["champion_version"] is None else "v" + e(r["champion_version"])
        challenger = num((r["challenger_metrics"] or {}).get(primary))
        champion = num((r["champion_metrics"] or {}).get(primary))
        cards.append(
            f"<div class='card decision' data-decision='{e(r['decision'])}'>"
            f"<h3>{badge(r['decision'])} {e(r['model'])} v{e(r['challenger_version'])} vs {versus}</h3>"
            f"<p>{e(primary)}: challenger {challenger}, champion {champion}</p>"
            f"<p class='reason'>{e(r['reason'])}</p>"
            f"<p>Actor: <b>{e(r['actor'])}</b> · decided {e(r['decided_at'])} UTC</p>"
            f"<p class='muted'>{' · '.join(_trigger_lines(r['triggered_by'] or {}, root))}</p></div>"
        )
    return "".join(cards) if cards else "<p class='empty'>No decisions yet.</p>"


def decisions_table(decisions: list[dict[str, Any]], root: str, primary: str) -> str:
    """Audit rows, newest first: decision, both versions, the primary metric of each, reason, actor, trigger."""
    rows = []
    for r in decisions:
        parts = _trigger_lines(r["triggered_by"] or {}, root)
        challenger = (r["challenger_metrics"] or {}).get(primary)
        champion = (r["champion_metrics"] or {}).get(primary)
        versus = DASH if r["champion_version"] is None else "v" + e(r["champion_version"])
        rows.append(
            f"<tr class='decision' data-decision='{e(r['decision'])}'><td class='mono'>{e(r['decided_at'])}</td>"
            f"<td>{e(r['model'])}</td><td>{badge(r['decision'])}</td>"
            f"<td>v{e(r['challenger_version'])} vs {versus}</td>"
            f"<td class='num'>{num(challenger)} / {num(champion)}</td>"
            f"<td class='reason'>{e(r['reason'])}</td><td>{e(r['actor'])}</td>"
            f"<td>{'<br>'.join(parts)}</td></tr>"
        )
    if not rows:
        return "<p class='empty'>No decisions yet.</p>"
    return (
        "<div class='scroll'><table class='promotions'><tr><th>Decided (UTC)</th><th>Model</th><th>Decision</th>"
        f"<th>Challenger vs champion</th><th class='num'>{e(primary)} challenger / champion</th><th>Reason</th>"
        "<th>Actor</th><th>Triggered by</th></tr>" + "".join(rows) + "</table></div>"
    )


def _drift(ctx: dict[str, Any]) -> str:
    section: Section = ctx["drift"]
    spec = ctx["spec"]
    rows = section.value or []
    table_rows = []
    for r in reversed(rows):
        perf = r.get("performance") or {}
        verdict = "fires" if r["fires"] else "breach" if r["breached"] else "ok"
        link = f'<a href="drift/{q(r["window_day"])}" class="drift-report">report</a>' if r.get("html_path") else DASH
        top = sorted((r["feature_scores"] or {}).items(), key=lambda kv: -(kv[1] or 0))
        watched = [(f, s) for f, s in top if (r["thresholds"] or {}).get(f) is not None]
        worst = f"{e(watched[0][0])} {num(watched[0][1], 3)}" if watched else DASH
        table_rows.append(
            f"<tr class='{verdict}' data-day='{e(r['window_day'])}'><td class='day'>{e(r['window_day'])}</td>"
            f"<td>v{e(r['model_version'])}</td><td class='num'>{num(r.get('rows_profiled'))}</td>"
            f"<td class='num'>{num(r.get('prediction_drift'), 3)}</td><td>{worst}</td>"
            f"<td class='num'>{num(perf.get('recall_decay'), 3)}</td><td>{e(perf.get('verdict'))}</td>"
            f"<td>{badge(verdict)}</td><td class='reason'>{'<br>'.join(e(x) for x in r['reasons'] or [])}</td>"
            f"<td>{link}</td></tr>"
        )
    drift = spec.drift
    rule = (
        f"<p class='muted'>Rule: {e(drift.rule)} ({e(drift.k)} of {e(drift.n)}). A window breaches when a watched "
        f"feature's {e(drift.measure)} distance passes its threshold (default {num(drift.default_threshold, 2)}), "
        f"prediction drift passes {num(drift.prediction_threshold, 2)}, or recall on the frauds known so far decays by "
        f"more than {num(drift.performance.tolerance, 2)} of the reference recall. Click a day for its report.</p>"
    )
    table = (
        "<div class='scroll'><table class='drift'><tr><th>Day</th><th>Scored by</th><th class='num'>Rows</th>"
        "<th class='num'>Prediction drift</th><th>Most drifted watched feature</th><th class='num'>Recall decay</th>"
        "<th>Performance verdict</th><th>Window</th><th>Reasons</th><th>Report</th></tr>"
        + "".join(table_rows)
        + "</table></div>"
        if table_rows
        else ""
    )
    return (
        f"<h2 id='drift'>Drift timeline</h2>{error_box(section)}{rule}{charts.drift_timeline(rows, spec)}"
        f"<details open><summary>Windows, newest first</summary>{table}</details>"
    )


def _ledger(ctx: dict[str, Any], root: str) -> str:
    section: Section = ctx["events"]
    rows = []
    for ev in section.value or []:
        run = ev.get("run_id") or ""
        airflow_run = run.split("#", 1)[0] if run else ""
        run_cell = (
            airflow_run_link(root, "retrain", airflow_run)
            if airflow_run and not airflow_run.startswith("mlflow:")
            else e(run or None)
        )
        rows.append(
            f"<tr data-event='{e(ev['event_id'])}'><td class='mono'>{e(ev['received_at'])}</td>"
            f"<td><code>{e(ev['event_id'])}</code></td><td class='day'>{e(ev.get('drift_window'))}</td>"
            f"<td>{DASH if ev.get('model_version') is None else 'v' + e(ev['model_version'])}</td>"
            f"<td>{badge(ev['status'])}</td><td>{run_cell}</td><td>{e(ev.get('as_of'))}</td>"
            f"<td class='reason'>{e(ev.get('reason'))}</td></tr>"
        )
    table = (
        "<div class='scroll'><table class='ledger'><tr><th>Received (UTC)</th><th>Event</th><th>Window</th>"
        "<th>Model version</th>"
        "<th>Status</th><th>Run that took it</th><th>Trained as of</th><th>Why</th></tr>"
        + "".join(rows)
        + "</table></div>"
        if rows
        else "<p class='empty'>No drift events recorded for this model.</p>"
    )
    return (
        f"<h2 id='events'>Drift events</h2>{error_box(section)}<p class='muted'>From the event ledger: every "
        "DriftDetected event the watcher accepted, and which retrain run consumed or covered it.</p>" + table
    )


def gate_cell(gate: dict[str, Any] | None, root: str, docs_link) -> str:
    if gate is None:
        return "<span class='muted'>not run</span>"
    link = docs_link(gate.get("docs_path"))
    docs = f' <a href="{e(root + "datadocs/" + quote(link))}" class="data-docs">Data Docs</a>' if link else ""
    reason = "" if gate["status"] == "passed" else f"<div class='reason'>{e(gate['reason'])}</div>"
    return f'<span title="{e(gate["reason"])}">{badge(gate["status"])}</span>{docs}{reason}'


def _health(ctx: dict[str, Any], root: str) -> str:
    section: Section = ctx["health"]
    days = section.value or []
    rows = []
    for d in reversed(days):
        statuses = [g["status"] for g in d["gates"].values() if g]
        cls = "failed" if "failed" in statuses else "partial" if "partial" in statuses else ""
        raw = d["gates"]["raw_contract"]
        marker = (
            "<div><b>broken batch</b>: the whole batch is in quarantine</div>"
            if raw and raw["status"] == "failed"
            else ""
        )
        reasons = "".join(
            f"<div><span class='num'>{num(n)}</span> {e(reason)}</div>" for reason, n in d["quarantine_reasons"].items()
        )
        rows.append(
            f"<tr id='health-{e(d['day'])}' class='{cls}' data-day='{e(d['day'])}'>"
            f"<td class='day'>{e(d['day'])}{marker}</td>"
            + "".join(
                f"<td class='num'>{num(d[k])}</td>" for k in ("landing", "bronze", "silver", "quarantine", "gold")
            )
            + f"<td>{gate_cell(raw, root, ctx['docs_link'])}</td>"
            f"<td>{gate_cell(d['gates']['clean_quality'], root, ctx['docs_link'])}</td>"
            f"<td class='reason'>{reasons or DASH}</td></tr>"
        )
    table = (
        "<div class='scroll'><table class='health'><tr><th>Day</th><th class='num'>Landing</th>"
        "<th class='num'>Bronze</th>"
        "<th class='num'>Silver</th><th class='num'>Quarantine</th><th class='num'>Gold</th><th>Raw contract gate</th>"
        "<th>Clean quality gate</th><th>Quarantined rows by reason</th></tr>" + "".join(rows) + "</table></div>"
        if rows
        else ""
    )
    return (
        f"<h2 id='health'>Data health</h2>{error_box(section)}<p class='muted'>Rows counted in the lake (Parquet "
        "footers), gate verdicts from each day's step reports, quarantine reasons from the quarantine partitions. "
        "Landing is what the ingest job read that day.</p>"
        f"{charts.health_bars(days)}{table}"
    )


# ---- small pages -------------------------------------------------------------------------------------------
def message(title: str, text: str, root: str = "../../") -> str:
    return page(title, f'<nav class="muted"><a href="{root}">All models</a></nav><h1>{e(title)}</h1><p>{e(text)}</p>')


def rollback_requested(model: str, run: dict[str, Any], paused: bool | None, root: str = "../../") -> str:
    link = airflow_run_link(root, "rollback_model", run["run_id"])
    paused_note = (
        "<p class='note'><code>rollback_model</code> is paused: the run waits in the queue until someone unpauses "
        "the DAG.</p>"
        if paused
        else ""
    )
    body = (
        f'<nav class="muted"><a href="{root}">All models</a> · <a href="./">{e(model)}</a></nav>'
        f"<h1>Rollback requested</h1><p>Run {link} of <code>rollback_model</code> is queued with "
        f"<code class='conf'>{e(json.dumps(run['conf'], sort_keys=True))}</code>.</p>"
        "<p>The champion moves when that run succeeds; its audit row then appears in the promotion history.</p>"
        f"{paused_note}"
    )
    return page("Rollback requested", body)


def run_tab(dag_id: str, run_id: str, content: str) -> str:
    """The tab sits inside Airflow's own run page, which already names the DAG and the run."""
    return page(f"Evergreen: {dag_id} {run_id}", content)


def step_report_block(step: str, report: dict[str, Any] | None, root: str, docs_link) -> str:
    if report is None:
        return f"<h3>{e(step)}</h3><p class='empty'>No {e(step)} report for this day (the step did not run).</p>"
    gate = report.get("gate")
    counts = {
        k: report[k]
        for k in ("landing_rows", "bronze_rows", "silver_rows", "quarantined_rows", "gold_rows_today")
        if k in report
    }
    out = [f"<h3>{e(step)}</h3>", "<table class='compact'><tr>"]
    out += [f"<th class='num'>{e(k)}</th>" for k in counts]
    out.append("</tr><tr>" + "".join(f"<td class='num'>{num(v)}</td>" for v in counts.values()) + "</tr></table>")
    if gate:
        out.append(f"<p>Gate <code>{e(gate['gate'])}</code>: {gate_cell(gate, root, docs_link)}</p>")
        failed = gate.get("failed_expectations") or []
        if failed:
            out.append(
                "<table class='compact'><tr><th>Expectation</th><th>Column</th><th>Observed</th><th>Expected</th></tr>"
            )
            out += [
                f"<tr><td>{e(f.get('expectation'))}</td><td>{e(f.get('column'))}</td>"
                f"<td>{e(f.get('observed'))}</td><td>{e(f.get('expected'))}</td></tr>"
                for f in failed
            ]
            out.append("</table>")
    if report.get("quarantine_reasons"):
        out.append(
            "<p>Quarantined by reason: "
            + ", ".join(f"{e(k)}: {num(v)}" for k, v in report["quarantine_reasons"].items())
            + "</p>"
        )
    return "".join(out)
