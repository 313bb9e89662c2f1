"""The Evergreen page in a real browser: Debian's headless Chromium, driven by Playwright, against a real Airflow
api-server and scheduler (evergreen.devtools.airflow_stack) over a home with a champion.

A person logs in through Airflow's form, opens "Models" from the navigation and sees the registry's champion;
triggers `retrain` from its Params form; a viewer finds no rollback button and is refused by the server; an
operator rolls back from the page, the scheduler runs `rollback_model`, and the audit row carries their name.
Selectors use hrefs, test ids and our own data attributes, not translated text where the UI translates.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from evergreen.devtools.airflow_stack import AirflowStack, wait_finished
from tests.paths import DAGS_DIR
from tests.plugin.conftest import PLUGINS_DIR, USERS, passwords, reserialize_dags

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def stack(browser_home, run_dir):
    """api-server (the UI and the page) and scheduler (runs rollback_model) over the browser home."""
    home = run_dir / "browser-airflow"
    env = {
        "EVERGREEN_HOME": str(browser_home.path),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        # Only what a test unpauses may run: a retrain triggered from the form stays queued.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    s = AirflowStack(home=home, dags_folder=DAGS_DIR, env=env, parallelism=2)
    s.migrate()
    reserialize_dags(s.environ())
    try:
        s.start_component("api-server")
        s.start_component("scheduler")
        s.wait_until(s.api_healthy, 240, "the api-server to answer /api/v2/monitor/health")
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: run `bash scripts/system-deps.sh` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    p = context.new_page()
    yield p
    context.close()


def login(page, stack: AirflowStack, user: str) -> None:
    """Through Airflow's own login form, as a person would."""
    page.goto(stack.api_url + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(passwords(stack.home)[user])
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-testid="nav-sidebar"]').wait_for()


def open_models(page):
    """Click "Models" in the left navigation; the page lives in the UI's iframe."""
    page.locator('[data-testid="nav-sidebar"] a[href$="/plugin/models"]').click()
    return page.frame_locator('iframe[title="Models"]')


def champion() -> str:
    from evergreen.registry import store

    return store.aliases(store.connect(), "fraud")["champion"]


def test_login_open_models_and_see_the_registrys_champion(page, stack, browser_home):
    login(page, stack, "admin")
    frame = open_models(page)
    cell = frame.locator('tr[data-model="fraud"] td.champion-version')
    assert cell.inner_text() == f"v{champion()}"
    assert champion() == browser_home.versions["strong"]
    frame.locator('tr[data-model="fraud"] a').first.click()
    card = frame.locator('div.card[data-alias="champion"]')
    assert card.get_attribute("data-version") == champion()
    assert (
        frame.locator('div.card[data-alias="previous_champion"]').get_attribute("data-version")
        == (browser_home.versions["mid"])
    )
    assert frame.locator("tr.decision").count() == 4
    assert frame.locator("svg.chart a.day-link").count() == 6


def test_trigger_retrain_from_its_params_form(page, stack):
    login(page, stack, "admin")
    before = {r["run_id"] for r in stack.runs("retrain")}
    page.goto(stack.api_url + "/dags/retrain")
    page.get_by_role("button", name="Trigger").first.click()
    depth = page.locator('input[name="element_max_depth"]')
    depth.fill("3")
    page.get_by_test_id("trigger-dag-submit").click()
    run = stack.wait_until(
        lambda: next((r for r in stack.runs("retrain") if r["run_id"] not in before), None), 60, "the triggered run"
    )
    shown = stack.api("GET", f"/api/v2/dags/retrain/dagRuns/{run['run_id']}")
    assert shown["conf"]["max_depth"] == 3
    assert shown["conf"]["model"] is None  # the form's model left empty: every model
    assert shown["triggering_user_name"] == "admin"


def test_a_viewer_has_no_rollback_button_and_is_refused(page, stack):
    import json
    import urllib.error
    import urllib.request

    login(page, stack, "viewer")
    frame = open_models(page)
    frame.locator('tr[data-model="fraud"] a').first.click()
    frame.locator("h2#rollback").wait_for()
    assert frame.locator('[data-testid="rollback-submit"]').count() == 0
    assert "may not trigger rollback_model" in frame.locator("p.note").first.inner_text()
    token = stack.token("viewer")
    req = urllib.request.Request(
        f"{stack.api_url}/evergreen/models/fraud/rollback",
        data=b"reason=viewer+tries&to_version=1",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 403
    assert stack.runs("rollback_model") == []
    assert json.loads(refused.value.read())["detail"] == "Forbidden"


def test_an_operator_rolls_back_through_the_dag(page, stack, browser_home):
    from evergreen.registry import audit

    previous = browser_home.versions["mid"]
    login(page, stack, "operator")
    frame = open_models(page)
    frame.locator('tr[data-model="fraud"] a').first.click()
    assert frame.locator('select[name="to_version"]').input_value() == previous
    frame.locator('input[name="reason"]').fill("flags too many good customers")
    frame.get_by_test_id("rollback-submit").click()
    frame.locator("h1", has_text="Rollback requested").wait_for()
    (run,) = stack.runs("rollback_model")
    assert run["run_id"] in frame.locator("body").inner_text()
    assert champion() == browser_home.versions["strong"]  # queued only: the page moved nothing

    stack.api("PATCH", "/api/v2/dags/rollback_model", {"is_paused": False})
    done = wait_finished(stack, "rollback_model", run["run_id"], 600)
    assert done["state"] == "success", stack.task_states("rollback_model", run["run_id"])
    assert champion() == previous
    row = audit.history("fraud", limit=1)[0]
    assert (row["decision"], row["actor"], row["challenger_version"]) == ("rollback", "operator", previous)
    assert row["triggered_by"]["run_id"] == run["run_id"]
    assert row["triggered_by"]["triggering_user"] == "operator"
    assert "flags too many good customers" in row["reason"]

    # the run's "Evergreen" tab in the UI shows the audit row it wrote
    page.goto(f"{stack.api_url}/dags/rollback_model/runs/{quote(run['run_id'], safe='')}/plugin/evergreen-run")
    tab = page.frame_locator("iframe").first
    assert tab.locator(".decision").first.get_attribute("data-decision") == "rollback"
    assert "Actor: operator" in tab.locator(".decision").first.inner_text()

    page.goto(stack.api_url + "/")
    frame = open_models(page)
    assert frame.locator('tr[data-model="fraud"] td.champion-version').inner_text() == f"v{previous}"
    frame.locator('tr[data-model="fraud"] a').first.click()
    assert frame.locator("tr.decision").first.get_attribute("data-decision") == "rollback"
