"""The Evergreen page inside a real Airflow api-server app (create_app + TestClient: real plugin loading, real
SimpleAuthManager, real tokens from POST /auth/token), over a home built by the package's own functions and a
real MLflow store (SQLite).

What must hold: anonymous -> 401 and a forged token -> 403 on every route; a viewer reads everything but cannot
roll back (403, no button, no run); the page shows what the registry, the audit table, the drift reports, the
ledger and the lake hold; stored text is escaped; rollback goes through the rollback_model DAG with the user's
name and the page itself writes nothing.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from urllib.parse import quote

import pytest

from tests.plugin.conftest import PLUGINS_DIR, passwords, reserialize_dags
from tests.plugin.home import (
    BROKEN_DAY,
    DRIFT_DAYS,
    EVENT_ARMED,
    EVENT_CONSUMED,
    HOSTILE,
    RUN_MID,
    RUN_STRONG,
)

INGEST_RUN = "manual__2026-01-05T01:00:00+00:00"
ROUTES = [
    ("GET", "/evergreen/"),
    ("GET", "/evergreen/models/fraud/"),
    ("GET", f"/evergreen/models/fraud/drift/{DRIFT_DAYS[-1]}"),
    ("GET", "/evergreen/datadocs/validations/raw_contract/transactions-2026-01-05/result.html"),
    ("GET", f"/evergreen/runs/retrain/{quote(RUN_STRONG, safe='')}"),
    ("POST", "/evergreen/models/fraud/rollback"),
]


def trigger(dag_id: str, run_id: str, conf: dict) -> None:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    trigger_dag(dag_id, run_id=run_id, conf=conf, triggered_by=DagRunTriggeredByType.TEST)


@pytest.fixture(scope="module")
def client(page_env, airflow_db):
    from fastapi.testclient import TestClient

    reserialize_dags({"EVERGREEN_HOME": str(page_env.path)})
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app()) as c:
        # Runs the run tab is asked about: the strong model's retrain run, an ingest run of the broken day.
        trigger("retrain", RUN_STRONG, {"model": "fraud"})
        trigger("ingest_daily", INGEST_RUN, {"date": BROKEN_DAY})
        yield c


@pytest.fixture(scope="module")
def tokens(client, airflow_db):
    secrets = passwords(airflow_db)
    out = {}
    for user in ("admin", "operator", "viewer"):
        r = client.post("/auth/token", json={"username": user, "password": secrets[user]})
        assert r.status_code in (200, 201), r.text
        out[user] = r.json()["access_token"]
    return out


def get(client, path: str, token: str | None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers, **kw)


def rollback_runs(since: set[str] | None = None) -> list:
    """rollback_model runs, less those in `since`: the session's Airflow DB is shared with tests/dags, whose
    `dag.test()` rollbacks are there too."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == "rollback_model")).all()
        return [
            (r.run_id, dict(r.conf or {}), r.triggering_user_name, r.run_type)
            for r in runs
            if r.run_id not in (since or set())
        ]


def text_of(page: str) -> str:
    """The page's visible text, tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# ---- auth ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_gets_401_and_a_forged_token_403_on_every_route(client, method, path):
    form = {"data": {"reason": "nobody home"}} if method == "POST" else {}
    anonymous = client.request(method, path, **form)
    assert anonymous.status_code == 401, (path, anonymous.status_code, anonymous.text[:200])
    forged = client.request(method, path, headers={"Authorization": "Bearer not.a.jwt"}, **form)
    assert forged.status_code == 403, (path, forged.status_code)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "GET"])
def test_a_viewer_reads_every_page(client, tokens, method, path):
    r = get(client, path, tokens["viewer"])
    assert r.status_code == 200, (path, r.text[:300])
    assert len(r.content) > 50


def test_the_ui_cookie_is_enough(client, tokens):
    # The UI shows the page in an iframe: the browser sends the `_token` cookie, no Authorization header.
    client.cookies.set("_token", tokens["viewer"])
    try:
        r = client.get("/evergreen/")
    finally:
        client.cookies.clear()
    assert r.status_code == 200
    assert "Signed in as viewer" in text_of(r.text)


def test_a_viewer_cannot_roll_back(client, tokens, page_env):
    from evergreen.registry import audit, store

    page = get(client, "/evergreen/models/fraud/", tokens["viewer"]).text
    assert 'data-testid="rollback-submit"' not in page
    assert "viewer may not trigger rollback_model" in text_of(page)
    before = (store.aliases(store.connect(), "fraud"), audit.count("fraud"), rollback_runs())
    r = client.post(
        "/evergreen/models/fraud/rollback",
        headers={"Authorization": f"Bearer {tokens['viewer']}"},
        data={"reason": "viewer tries", "to_version": page_env.versions["mid"]},
    )
    assert r.status_code == 403
    assert (store.aliases(store.connect(), "fraud"), audit.count("fraud"), rollback_runs()) == before


# ---- what the page shows ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_page(client, tokens):
    r = get(client, "/evergreen/models/fraud/", tokens["operator"])
    assert r.status_code == 200, r.text[:500]
    assert "script-src 'none'" in r.headers["content-security-policy"]
    return r.text


def card(page: str, alias: str) -> str:
    match = re.search(
        rf'<div class="card {alias}" data-alias="{alias}".*?</div>\s*(?=<div class="card|</div>)', page, re.S
    )
    assert match, f"no {alias} card"
    return match.group(0)


def test_versions_are_the_registrys_aliases_with_their_runs(model_page, page_env):
    from evergreen.registry import audit, store

    client = store.connect()
    aliases = store.aliases(client, "fraud")
    assert aliases == {
        "champion": page_env.versions["strong"],
        "previous_champion": page_env.versions["mid"],
        "challenger": page_env.versions["weak"],
    }
    promoted = next(
        r
        for r in audit.history("fraud")
        if r["decision"] == "promote" and r["challenger_version"] == aliases["champion"]
    )
    for alias, version in aliases.items():
        shown = card(model_page, alias)
        assert f'data-version="{version}"' in shown
        mv = client.get_model_version("fraud", version)
        run = client.get_run(mv.run_id)
        assert f"{run.data.metrics['holdout_pr_auc']:.4f}" in shown
        assert f"/runs/{mv.run_id}" in shown  # the MLflow run link
        assert f"#/experiments/{run.info.experiment_id}/" in shown
        assert "Data as of <b>2026-01-24</b>" in shown
        expected_run = RUN_STRONG if alias == "champion" else RUN_MID
        assert f'href="../../../dags/retrain/runs/{quote(expected_run, safe="")}"' in shown
    champion = card(model_page, "champion")
    assert f"{promoted['challenger_metrics']['pr_auc']:.4f}" in champion  # what the policy judged it on
    assert EVENT_CONSUMED in champion  # trained for the drift event
    assert "http://127.0.0.1:5000/#/" in champion  # the MLflow UI setting's default


def test_promotion_history_is_the_audit_table(model_page):
    from evergreen.registry import audit

    rows = audit.history("fraud")
    shown = re.findall(r"<tr class='decision' data-decision='([a-z_]+)'>", model_page)
    assert shown == [r["decision"] for r in rows] == ["reject", "promote", "promote", "reject"]
    text = text_of(model_page)
    for r in rows:
        assert r["reason"] in text
    assert "first model: pr_auc" in text  # reasons carry their numbers
    assert "drift events " + EVENT_CONSUMED in text


def test_drift_timeline_table_and_report_link(model_page, client, tokens):
    from evergreen.monitoring.report_table import reports

    windows = reports("fraud")
    assert [w["window_day"] for w in windows] == DRIFT_DAYS
    svg = re.search(r"<svg class=\"chart\".*?</svg>", model_page, re.S).group(0)
    assert svg.count('class="day-link"') == len(DRIFT_DAYS)
    fired = [w["window_day"] for w in windows if w["fires"]]
    assert fired == [DRIFT_DAYS[-1]]
    assert svg.count(">fire</text>") == 1
    assert re.search(rf"<tr class='fires' data-day='{fired[0]}'>", model_page)
    assert len(re.findall(r"<tr class='breach' data-day=", model_page)) == 1
    # one click away, through the plugin, behind the login
    report = get(client, f"/evergreen/models/fraud/drift/{fired[0]}", tokens["viewer"])
    assert report.status_code == 200
    assert f"window {fired[0]}" in report.text
    assert "FIRES: retrain" in report.text
    assert get(client, "/evergreen/models/fraud/drift/2030-01-01", tokens["viewer"]).status_code == 404
    assert get(client, "/evergreen/models/fraud/drift/..%2F..%2Fmlflow.db", tokens["viewer"]).status_code == 404


def test_event_ledger_says_which_run_took_which_event(model_page):
    from evergreen.events import ledger

    events = {e["event_id"]: e for e in ledger.events("fraud")}
    assert events[EVENT_CONSUMED]["status"] == "consumed"
    assert events[EVENT_ARMED]["status"] == "armed"
    consumed = re.search(rf"<tr data-event='{re.escape(EVENT_CONSUMED)}'>.*?</tr>", model_page, re.S).group(0)
    assert "consumed" in consumed
    assert f'href="../../../dags/retrain/runs/{quote(RUN_STRONG, safe="")}"' in consumed
    armed = re.search(rf"<tr data-event='{re.escape(EVENT_ARMED)}'>.*?</tr>", model_page, re.S).group(0)
    assert "armed" in armed


def test_data_health_marks_the_broken_batch_and_links_its_data_docs(model_page, client, tokens, page_env):
    from evergreen.storage.inventory import data_health

    days = {d["day"]: d for d in data_health()}
    assert (days[BROKEN_DAY]["quarantine"], days[BROKEN_DAY]["silver"]) == (120, 0)
    row = re.search(rf"<tr id='health-{BROKEN_DAY}' class='failed'.*?</tr>", model_page, re.S).group(0)
    assert "broken batch" in row
    assert ">120<" in row
    docs = re.search(r'href="([^"]+)" class="data-docs"', row).group(1)
    assert docs == "../../datadocs/" + page_env.docs_page
    served = get(client, "/evergreen/" + docs.removeprefix("../../"), tokens["viewer"])
    assert served.status_code == 200
    assert f"Data Docs: raw_contract transactions-{BROKEN_DAY}" in served.text
    ok_day = re.search(r"<tr id='health-2026-01-04' class=''.*?</tr>", model_page, re.S).group(0)
    assert "null_customer_id" in ok_day
    assert re.search(r"<span class='num'>2</span> null_customer_id", ok_day)
    assert "partial" in re.search(r"<tr id='health-2026-01-06' class='partial'.*?</tr>", model_page, re.S).group(0)
    # nothing outside the Data Docs site is served
    for path in ("../mlflow.db", "..%2F..%2Fmlflow.db", "%2Fetc%2Fpasswd", ""):
        assert get(client, f"/evergreen/datadocs/{path}", tokens["viewer"]).status_code == 404, path


def test_stored_text_is_escaped(model_page):
    assert HOSTILE not in model_page
    assert html.escape(HOSTILE) in model_page
    assert "<script" not in model_page.lower()


def test_index_lists_every_spec_with_its_champion(client, tokens, page_env):
    from evergreen.contracts.model_spec import known_models

    page = get(client, "/evergreen/", tokens["viewer"]).text
    models = re.findall(r'<tr data-model="([^"]+)">', page)
    assert models == known_models()
    row = re.search(r'<tr data-model="fraud">.*?</tr>', page, re.S).group(0)
    assert f'<td class="champion-version">v{page_env.versions["strong"]}</td>' in row
    assert '<td class="num">1</td>' in row  # the armed event is pending


def test_unknown_model_is_404(client, tokens):
    assert get(client, "/evergreen/models/nope/", tokens["viewer"]).status_code == 404


# ---- the run tab ---------------------------------------------------------------------------------------------
def test_run_tab_shows_a_retrain_runs_decision_and_an_ingest_runs_gates(client, tokens, page_env):
    page = get(client, f"/evergreen/runs/retrain/{quote(RUN_STRONG, safe='')}", tokens["viewer"]).text
    decisions = re.findall(r"data-decision='([a-z_]+)'", page)
    assert decisions == ["reject", "promote"]  # this run's two decisions, newest first
    assert f"v{page_env.versions['strong']} vs v{page_env.versions['mid']}" in page
    assert EVENT_CONSUMED in page
    assert "consumed" in page

    page = get(client, f"/evergreen/runs/ingest_daily/{quote(INGEST_RUN, safe='')}", tokens["viewer"]).text
    text = text_of(page)
    assert f"Gates of {BROKEN_DAY}" in text
    assert "failed" in text
    assert "expect_column_to_exist" in text
    assert html.escape(HOSTILE) in page
    assert HOSTILE not in page
    assert 'class="data-docs"' in page

    assert get(client, "/evergreen/runs/retrain/manual__nope", tokens["viewer"]).status_code == 404
    other = get(client, f"/evergreen/runs/rollback_model/{quote(RUN_STRONG, safe='')}", tokens["viewer"])
    assert other.status_code == 404


# ---- the action ---------------------------------------------------------------------------------------------
def test_rollback_queues_the_dag_with_the_users_name_and_writes_nothing_itself(client, tokens, page_env):
    from evergreen.registry import audit, store

    page = get(client, "/evergreen/models/fraud/", tokens["operator"]).text
    assert 'data-testid="rollback-submit"' in page
    assert f'<option value="{page_env.versions["mid"]}" selected>' in page  # previous champion by default
    before = (store.aliases(store.connect(), "fraud"), audit.count("fraud"))
    earlier = {run_id for run_id, *_ in rollback_runs()}
    auth = {"Authorization": f"Bearer {tokens['operator']}"}

    refused = client.post("/evergreen/models/fraud/rollback", headers=auth, data={"reason": "x", "to_version": "1"})
    assert refused.status_code == 400
    missing = client.post(
        "/evergreen/models/fraud/rollback", headers=auth, data={"reason": "why not", "to_version": "99"}
    )
    assert missing.status_code == 400
    assert "has no version 99" in missing.text
    cross_site = client.post(
        "/evergreen/models/fraud/rollback",
        headers={**auth, "Origin": "https://evil.example"},
        data={"reason": "forged form", "to_version": page_env.versions["mid"]},
    )
    assert cross_site.status_code == 403
    assert rollback_runs(earlier) == []

    r = client.post(
        "/evergreen/models/fraud/rollback",
        headers=auth,
        data={"reason": "strong model flags good customers <b>", "to_version": page_env.versions["mid"]},
    )
    assert r.status_code == 202, r.text[:500]
    ((run_id, conf, triggering_user, run_type),) = rollback_runs(earlier)
    assert conf == {
        "model": "fraud",
        "to_version": page_env.versions["mid"],
        "reason": "strong model flags good customers <b>",
        "requested_by": "operator",
    }
    assert (triggering_user, str(run_type)) == ("operator", "manual")
    assert run_id in text_of(r.text)
    assert "&lt;b&gt;" in r.text
    assert "rollback_model is paused" in text_of(r.text)  # dags_are_paused_at_creation
    # the page only queued a run: the registry and the audit trail are untouched until the DAG runs
    assert (store.aliases(store.connect(), "fraud"), audit.count("fraud")) == before


# ---- cheap to import --------------------------------------------------------------------------------------
def test_the_plugin_file_imports_nothing_heavy():
    """Airflow imports plugins in every process: the entry file must not pull in the page, FastAPI or MLflow."""
    code = (
        "import sys, runpy\n"
        "import airflow.plugins_manager\n"
        "before = set(sys.modules)\n"
        f"ns = runpy.run_path({str(PLUGINS_DIR / 'evergreen' / 'evergreen_plugin.py')!r})\n"
        "new = sorted(m.split('.')[0] for m in set(sys.modules) - before)\n"
        "print('NEW=' + ','.join(sorted(set(new))))\n"
        "views = ns['EvergreenPlugin'].external_views\n"
        "print('VIEWS=' + ','.join(v['href'] for v in views))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert lines["NEW"] == "", f"the plugin file imported {lines['NEW']}"
    assert lines["VIEWS"] == "evergreen/,evergreen/runs/{DAG_ID}/{RUN_ID}"
