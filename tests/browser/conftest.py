"""Browser tests: Debian's Chromium, driven by Playwright, against the admin.

- `browser`: one headless Chromium per module (a fresh user-data
  directory, loopback only, no background traffic); `browser_page`: a page in
  a new context (cookies, connections) for each test. Playwright cannot download its own browsers here; the tests use
  `chromium` from the system (`make test` installs it) and fail, not skip,
  without it.
- `admin_page`: a page of that browser logged into the admin as a given user.
- `shot(page, name)`: a full-page screenshot in `test-artifacts/screenshots/`.

Pages are served by pytest-django's `live_server` (a thread of this process,
the test database, static files included) unless a test brings its own stack.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import restore_migrated_data

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "pw-browser-123"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Browser tests need Debian's chromium (Playwright cannot download its own browsers here): "
            "`make test` installs it, or run `sudo apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module", autouse=True)
def _database_as_migrations_left_it(django_db_blocker):
    """Browser tests commit for real, and each is flushed afterwards (`transactional_db`), which empties the
    tables the migrations seeded (the model catalog). `serialized_rollback` puts them back before each of our
    tests; this puts them back after the module too, for the suite's later tests."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            restore_migrated_data(connection)


@pytest.fixture(scope="module")
def live_server(request):
    """pytest-django's live server, for one module only: stopped (and its share of the in-memory test database
    handed back) before the suite's later tests, which may need the database to themselves."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(request.config.getvalue("liveserver") or "localhost")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Chromium for a module; Playwright gives it a fresh, temporary user-data directory.

    Per module, not per session: Playwright's sync API runs an event loop in this thread while it is started,
    and pytest-django runs the suite's database-free tests after these, some of which call `asyncio.run`.
    """
    from django.db import connections
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    outer = list(connections.all(initialized_only=True))
    # Playwright's sync API keeps an event loop in this thread; Django then refuses ORM calls from it unless
    # told it is safe, which it is: the test's own code runs one thing at a time.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        # Django keeps a connection per context, and code under Playwright's sync API runs in a context of its
        # own, so it gets new connection objects (to the same test database). Hand them what the test database's
        # creation stored on the first ones: the snapshot `serialized_rollback` restores after each flush.
        for connection in outer:
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents is not None:
                connections[connection.alias]._test_serialized_contents = contents
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(browser):
    """A page in a context of its own (cookies, connections), closed after the test: no keep-alive connection
    outlives the test on the server side."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def admin_login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def shown_stats(page) -> dict[str, str]:
    """The raw figures behind what a page shows: its `data-stat="name" data-value="raw"` elements."""
    return page.eval_on_selector_all(
        "[data-stat][data-value]", "nodes => Object.fromEntries(nodes.map(n => [n.dataset.stat, n.dataset.value]))"
    )


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
