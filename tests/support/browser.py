"""Headless Chromium (Debian's package) driven by Playwright, for the tests
of the page and of the review's HTML report. .ci/run installs Chromium and
sets PALESTRAS_REQUIRE_BROWSER=1, so there a missing browser fails the tests
instead of skipping them."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from tests.support.require import skip_or_fail

CHROMIUM = Path(os.environ.get("PALESTRAS_CHROMIUM", "/usr/bin/chromium"))
# No network but loopback, no first-run chores: the page must work offline.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def chromium():
    """A launched Chromium browser (Playwright's), closed on exit; skips (or fails in CI) without one."""
    if not CHROMIUM.exists():
        skip_or_fail(f"no Chromium at {CHROMIUM}: apt-get install chromium", "PALESTRAS_REQUIRE_BROWSER")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install -r requirements-dev.txt", "PALESTRAS_REQUIRE_BROWSER")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
