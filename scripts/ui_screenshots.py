"""Screenshots of the Evergreen page for the docs, taken from the running stack over a demo's state.

    make demo                                                   # once: the state to show
    make up                                                     # the stack over that state
    source scripts/env.sh && python scripts/ui_screenshots.py  # -> docs/images/ui-*.png

Logs in to the stack's api-server through Airflow's form with the password it generated, and drives
Debian's chromium through Playwright. Leaves the stack running.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    from evergreen.devtools.stack import LocalStack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--model", default="fraud")
    parser.add_argument("--user", default="admin")
    args = parser.parse_args()
    local = LocalStack()
    if not local.check("api-server").healthy:
        sys.exit("the stack's api-server is not running: `make up` first (after `make demo` for its state)")
    local.adopt_client_env()  # the stack's evergreen DB and MLflow, for the audit lookup below
    stack = SimpleNamespace(api_url=local.airflow_url, home=local.airflow_home)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = take(stack, args)
    print(json.dumps({"screenshots": [str(p) for p in shots]}))
    return 0


def take(stack, args) -> list[Path]:
    from playwright.sync_api import sync_playwright

    passwords = json.loads((stack.home / "simple_auth_manager_passwords.json.generated").read_text())
    out: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(stack.api_url + "/")
        page.get_by_label("Username").fill(args.user)
        page.get_by_label("Password").fill(passwords[args.user])
        page.get_by_role("button", name="Sign in").click()
        page.locator('[data-testid="nav-sidebar"] a[href$="/plugin/models"]').click()
        frame = page.frame_locator('iframe[title="Models"]')
        frame.locator(f'tr[data-model="{args.model}"] a').first.click()
        frame.locator("h2#versions").wait_for()
        page.wait_for_timeout(1000)
        out.append(args.out / "ui-models-nav.png")
        page.screenshot(path=out[-1])

        # The page itself, outside the UI's scroll container, so each section can be cut out whole.
        page.goto(f"{stack.api_url}/evergreen/models/{args.model}/")
        sections = {
            "ui-versions-and-promotions.png": ("h2#versions", "h2#drift"),
            "ui-drift-timeline.png": ("h2#drift", "h2#events"),
            "ui-events-and-health.png": ("h2#events", None),
        }
        for name, (start, end) in sections.items():
            top = page.locator(start).bounding_box()["y"] - 8
            bottom = page.locator(end).bounding_box()["y"] - 8 if end else page.evaluate("document.body.scrollHeight")
            out.append(args.out / name)
            page.screenshot(
                path=out[-1], full_page=True, clip={"x": 0, "y": top, "width": 1440, "height": bottom - top}
            )

        # The retrain run the first drift event started (the oldest decision that names drift events).
        from urllib.parse import quote

        from evergreen.registry.audit import history

        drift_runs = [
            r["triggered_by"]["run_id"] for r in history(args.model) if (r["triggered_by"] or {}).get("drift_events")
        ]
        if drift_runs:
            page.goto(f"{stack.api_url}/dags/retrain/runs/{quote(drift_runs[-1], safe='')}/plugin/evergreen-run")
            page.frame_locator("iframe").first.locator("h2").first.wait_for()
            page.wait_for_timeout(1000)
            out.append(args.out / "ui-retrain-run-tab.png")
            page.screenshot(path=out[-1])
        browser.close()
    for path in out:
        shrink(path)
    return out


def shrink(path: Path) -> None:
    """256 colours are plenty for a flat UI and make the committed pictures 2-3x smaller."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    small.save(path, "PNG", optimize=True)


if __name__ == "__main__":
    sys.exit(main())
