"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Each test gets a fresh browser context; when a test fails, every page it had open is
saved to tests/e2e/screenshots/ (git-ignored) for the CI artefacts.
"""

import os
import re
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    """One browser per module, closed with it, so no other test runs beside its event loop.

    Playwright's sync API keeps an event loop in this thread, which Django's async-safety
    check would see; the ORM calls the tests make between browser steps are ordinary
    synchronous ones, so the check is switched off for exactly as long as the browser
    lives (never process-wide: `check --deploy` in a subprocess would flag it).
    """
    from playwright import sync_api as playwright_api  # requirements-dev.txt

    if not Path(CHROMIUM).exists():
        # Never a skip: `make test` installs chromium as root (scripts/install-system-deps.sh);
        # without root, install it once by hand.
        pytest.fail(f"no chromium at {CHROMIUM}: run `sudo bash scripts/install-system-deps.sh`")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def context(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(10_000)
    yield context
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, page in enumerate(context.pages):
            page.screenshot(path=SCREENSHOTS / f"{name}-{number}.png", full_page=True)
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()
