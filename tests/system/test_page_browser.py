"""results/index.html in Debian's headless Chromium: it loads with no console error and no
request beyond itself, its headline cells are the headline run's summary, hovering a mark shows
its record; a screenshot is saved (to $HARNESS_SCREENSHOT, e.g. results/index.png when the
evidence is regenerated; else into the test's own directory, so a test run leaves the tree clean).
Starts Chromium, not Dapr."""

from __future__ import annotations

import os

import json
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT, RESULTS_DIR
from harness.reports.comparison import HEADLINE_HEADERS
from harness.reports.page import write_page
from harness.summary import load_summary

CHROMIUM = Path("/usr/bin/chromium")
# Nothing but the page: no first-run, sync, component or background traffic, no QUIC.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1700}


def _browser_or_fail() -> object:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: Debian's chromium package is installed by "
                    "`python3 -m harness setup` (APT_PACKAGES)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): run `python3 -m harness setup`")
    return sync_playwright


def test_the_page_in_headless_chromium(tmp_path: Path) -> None:
    sync_playwright = _browser_or_fail()
    page_file = write_page(RESULTS_DIR, readme=REPO_ROOT / "README.md",
                           headline_scenario="comparison", out=tmp_path / "index.html")
    # The page links its evidence relative to itself: give it the same neighbours.
    (tmp_path / "evidence").symlink_to(RESULTS_DIR / "evidence")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as driver:  # type: ignore[operator]
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, viewport=VIEWPORT)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            run_id = page.get_attribute("#headline figure.timeline", "data-run")
            rows = page.eval_on_selector_all("#headline-table tbody tr", """rows => rows.map(r =>
                Object.fromEntries([...r.cells].map(c => [c.dataset.col, c.textContent])))""")
            shot = Path(os.environ.get("HARNESS_SCREENSHOT") or tmp_path / "index.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            mark = page.locator("#headline svg .mark").first
            mark.hover()
            record = page.inner_text("#record")
            expected = mark.get_attribute("data-record")
        finally:
            context.close()
    assert errors == []
    assert requests == [page_file.as_uri()]
    summary = load_summary(RESULTS_DIR / "evidence" / f"{run_id}.json")
    assert [list(r) for r in rows] == [HEADLINE_HEADERS] * len(summary.mechanisms)
    for row, entry in zip(rows, summary.mechanisms, strict=True):
        assert (row["ticks"], row["attempts"], row["exactly once"], row["duplicated"],
                row["lost"]) == (str(entry.across.ticks), str(entry.attempts),
                                 str(entry.across.once), str(entry.across.duplicated),
                                 str(entry.across.lost))
    assert expected and json.loads(record) == json.loads(expected)
    assert {"mechanism", "replica", "t_s", "status"} <= set(json.loads(record))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
