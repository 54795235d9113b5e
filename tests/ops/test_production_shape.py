"""The production shape, end to end: ``scripts/production.py`` against a fresh PostgreSQL database and a private
Redis starts two gunicorn processes, the workers per queue, the index writer and the scheduler; a customer files a
ticket through the pages, an agent sees it in the queue and finds it by search (the index writer at work), the
readiness check sees every part, and SIGTERM stops every process."""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.ops.conftest import ROOT, RedisServer, free_port, wait_for

PASSWORD = "shape-smoke-" + secrets.token_hex(8)
PG = os.environ.get("PRODUCTION_SHAPE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        engine = create_engine(PG, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _pg_available(), reason="needs the local PostgreSQL server")


@pytest.fixture
def database():
    base = make_url(PG)
    name = f"portal_shape_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Browser:
    """A cookie-keeping HTTP client for the pages (the standard library: no test client, a real server)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str, dict]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    def _open(self, request) -> tuple[int, str, dict]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), dict(error.headers)

    def csrf(self, path: str) -> str:
        status, html, _ = self.get(path)
        assert status == 200, (path, status)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

    def sign_in(self, email: str) -> None:
        token = self.csrf("/login")
        status, _, headers = self.post("/login", {"csrf_token": token, "email": email, "password": PASSWORD})
        assert status in (302, 303) and "/login" not in headers.get("Location", ""), (email, status, headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_production_shape_serves_files_indexes_and_stops(tmp_path, database):
    redis = RedisServer(free_port(), tmp_path)
    redis.start()
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database,
        REDIS_URL=redis.url,
        SECRET_KEY=secrets.token_urlsafe(48),
        PORTAL_ENV="production",
        PORTAL_INSTANCE_DIR=str(tmp_path / "instance"),
        PORTAL_URL=f"http://127.0.0.1:{port}",
        WEB_THREADS="4",
    )
    for name in ("TEST_DATABASE_URL", "MAIL_SERVER", "SLACK_WEBHOOK_URL", "IMAP_HOST", "INDEX_DIR"):
        env.pop(name, None)
    # two people, made the way an operator makes the first accounts (the schema first: the script would do it too)
    flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi"] if (ROOT / ".venv").exists() else None
    flask = flask or [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade", "heads"], cwd=ROOT, env=env, check=True, capture_output=True)
    for email, role in (("casey@customer.test", "customer"), ("alex@support.test", "agent")):
        subprocess.run(
            [*flask, "users", "create", email, "--name", email.split("@")[0].title(), "--role", role]
            + ["--password", PASSWORD],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    log = (tmp_path / "production.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "production.py"), "--port", str(port), "--grace", "15"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        return (tmp_path / "production.log").read_text(errors="replace")

    try:

        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"production.py exited early ({proc.returncode}):\n{output()[-6000:]}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
                    return response.status == 200 and response.read()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_for(ready, timeout=240, interval=0.5)
        # every worker queue has a live worker (heartbeats), the scheduler has run
        status, body, _ = Browser(base).get("/readyz")
        assert status == 200, body

        customer = Browser(base)
        customer.sign_in("casey@customer.test")
        word = f"zephyrine{secrets.token_hex(3)}"
        token = customer.csrf("/portal/tickets/new")
        form = customer.get("/portal/tickets/new")[1]
        status, html, headers = customer.post(
            "/portal/tickets/new",
            {
                "csrf_token": token,
                "subject": f"Production shape smoke test {word}",
                "description": f"The {word} import stopped after the upgrade.",
                "category": re.search(r'name="category".*?<option[^>]*value="([^"]+)"', form, re.S).group(1),
                "priority": "high",
            },
        )
        assert status in (302, 303), html[:2000]
        reference = re.search(r"/portal/tickets/(ESG-\d+)", headers["Location"]).group(1)

        agent = Browser(base)
        agent.sign_in("alex@support.test")
        status, html, _ = agent.get("/agent/queue?view=all")
        assert status == 200 and reference in html
        # the index writer (its own worker) makes the new ticket searchable
        wait_for(lambda: reference in agent.get(f"/agent/search?q={word}")[1], timeout=120, interval=0.5)
        status, html, _ = agent.get(f"/agent/tickets/{reference}")
        assert status == 200 and word in html
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
            redis.kill()
    text_out = output()
    assert code == 0, text_out[-6000:]
    assert "==> stopped" in text_out and "did not stop" not in text_out, text_out[-6000:]
    for name in ("web", "worker-notify", "worker-sweeps", "worker-index", "scheduler"):
        assert f"started {name}" in text_out
