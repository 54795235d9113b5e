"""Browser fixtures: the test ``app`` served on a real port, and Debian's chromium driven by Playwright.

The app comes from ``tests/conftest.py`` (a SQLite *file* or PostgreSQL, so the server thread shares the database with
the test); the autouse cleanup there empties the tables after every test. Chromium is ``/usr/bin/chromium``; we never
run ``playwright install``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from tests.ops.conftest import _Mailbox, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
HTMX = ROOT / "portal" / "static" / "vendor" / "htmx.min.js"
TIMEOUT_MS = 10_000


def ensure_vendored(path: Path, script: str) -> Path:
    """Front-end files are copied from their npm packages at set-up, not committed: run ``scripts/<script>`` if
    ``path`` is missing, and fail loudly if that cannot be done."""
    if not (path.is_file() and path.stat().st_size):
        try:
            result = subprocess.run(
                ["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=300
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"{path} is missing and scripts/{script} could not run: {exc}", pytrace=False)
        if result.returncode != 0 or not path.is_file():
            pytest.fail(
                f"{path} is missing and scripts/{script} failed (is npm installed?):\n{result.stdout}{result.stderr}",
                pytrace=False,
            )
    return path


@pytest.fixture(scope="session")
def vendored_htmx() -> Path:
    return ensure_vendored(HTMX, "vendor-htmx.sh")


@pytest.fixture(scope="session")
def vendored_htmx_sse() -> Path:
    """The htmx SSE extension live chat streams with (tests/browser/test_chat_browser.py)."""
    return ensure_vendored(ROOT / "portal" / "static" / "vendor" / "htmx-ext-sse" / "sse.min.js", "vendor-htmx-sse.sh")


@pytest.fixture(scope="session")
def live_server(app, vendored_htmx) -> Iterator[str]:
    """Serve the test app on 127.0.0.1 (free port) from a background thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(browser, live_server) -> Iterator[Callable]:
    """Open an isolated browser context (own cookies) on the live server; every page records its JavaScript errors
    in ``page.js_errors``. All contexts are closed at the end of the test, before the database is emptied."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server)
        context.set_default_timeout(TIMEOUT_MS)

        def track(page):
            page.js_errors = []
            page.on("pageerror", lambda error: page.js_errors.append(str(error)))

        context.on("page", track)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(new_context):
    """Sign ``user`` in through the login form in a fresh context; returns the page, on the landing page."""
    from tests.conftest import PASSWORD

    def do(user, password: str = PASSWORD):
        page = new_context().new_page()
        page.goto("/login")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert "/login" not in page.url, f"sign-in of {user.email} failed: {page.url}"
        return page

    return do


@pytest.fixture
def mailbox(app, monkeypatch, live_server):
    """A real SMTP server (aiosmtpd) the portal sends to; emailed links point at the live server."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": "ESG Support <support@support.test>",
        "PORTAL_URL": live_server,  # the emailed links point at the live server
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()
