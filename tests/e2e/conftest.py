"""The config page in a real browser: Debian's chromium driven by Playwright, against abonne, the stand-in
WooCommerce and the stand-in myPOS over real HTTP (the integration harness)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.conftest import (abonne, clock, configured, mypos, sqlite_url,  # noqa: F401  (fixtures)
                                        woo)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # noqa: F811
    """The browser tests use SQLite only: the page is the same on PostgreSQL, which the integration tests cover."""
    return sqlite_url


@pytest.fixture(scope="session")
def browser() -> Iterator["Browser"]:
    if sync_playwright is None:
        pytest.skip("the playwright Python package is not installed (`make test` installs it)")
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (`make test` installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: "Browser") -> Iterator["Page"]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


class Shots:
    """Screenshots saved as test artifacts, named after the test and the step."""

    def __init__(self, test_name: str):
        self.prefix = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
        self.taken: list[Path] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def __call__(self, page: Any, step: str) -> Path:
        path = ARTIFACTS / f"{self.prefix}--{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)
