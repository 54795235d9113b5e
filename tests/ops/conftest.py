"""Real parts for the jobs tests: a private redis-server, an aiosmtpd SMTP server, an HTTP receiver for Slack
webhooks, and RQ worker subprocesses that use the test database."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import current_app

from portal.extensions import db
from workers import embedded

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.1f}s")


class RedisServer:
    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(ready)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_up(redis_server):
    """The private Redis, running and empty."""
    if redis_server.proc is None:
        redis_server.start()
    from redis import Redis

    with Redis.from_url(redis_server.url) as r:
        r.flushall()
    return redis_server


class _Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.stall_first = False
        self.stalled = threading.Event()
        self.release = None  # asyncio.Event created on the server loop
        # {n: "rcpt" | "data"}: the n-th RCPT TO (1-based) stalls there (nothing received) or after DATA (received,
        # never answered); ``stalls`` counts them, ``cut`` the ones whose message was received (a duplicate follows).
        self.stall_on: dict[int, str] = {}
        self.rcpts = 0
        self.stalls = 0
        self.cut: list[str] = []
        self.delay = 0.0  # seconds to wait before answering each DATA (a slow server)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts += 1
        envelope.rcpt_tos.append(address)
        session.rcpt_number = self.rcpts
        if self.stall_on.get(self.rcpts) == "rcpt":
            self.stalls += 1
            self.stalled.set()
            await asyncio.sleep(30)  # the client is killed meanwhile
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        stall = (self.stall_first and len(self.messages) == 1) or (
            self.stall_on.get(getattr(session, "rcpt_number", 0)) == "data"
        )
        if stall:
            self.stalls += 1
            self.cut.append(message["Message-ID"])
            self.stalled.set()
            await asyncio.sleep(30)  # the client is killed meanwhile
        elif self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server():
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


class _SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def slack_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _SlackHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def jobs_config(app, monkeypatch, smtp_server, slack_receiver):
    """The app relays after commit to the private Redis and sends to the local SMTP server and Slack receiver."""
    controller, _mailbox = smtp_server
    values = {
        "JOBS_RELAY_ON_COMMIT": True,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": "ESG Support <support@support.test>",
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{slack_receiver.server_port}/services/T0/B0/x",
        "SLACK_ALLOWED_HOSTS": ("127.0.0.1",),
        "REDIS_URL": None,
    }
    for key, value in values.items():
        monkeypatch.setitem(app.config, key, value)
    yield values
    embedded.shutdown(grace=15)  # a runner thread the test started finishes its row while the servers still listen


@pytest.fixture
def rq_config(app, monkeypatch, jobs_config, redis_up):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_up.url)
    yield {**jobs_config, "REDIS_URL": redis_up.url}
    app.extensions.pop("jobs_redis", {}).clear()


def worker_env(config: dict) -> dict:
    """The environment of a worker process: the test database, and the test app's instance and index directories
    (a worker must never write into the repository's instance/)."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
            "INDEX_DIR": current_app.config["INDEX_DIR"],
            "PORTAL_INSTANCE_DIR": current_app.instance_path,
            "REDIS_URL": config["REDIS_URL"],
            "PORTAL_ENV": "testing",
            "SECRET_KEY": "worker-test-key",
            "MAIL_SERVER": config["MAIL_SERVER"],
            "MAIL_PORT": str(config["MAIL_PORT"]),
            "MAIL_TIMEOUT": "30",
            "MAIL_FROM": config["MAIL_FROM"],
            "SLACK_WEBHOOK_URL": config["SLACK_WEBHOOK_URL"],
            "SLACK_ALLOWED_HOSTS": "127.0.0.1",
            "RATELIMIT_STORAGE_URI": "memory://",
            "DELIVERY_UNCERTAIN_AFTER": str(current_app.config["DELIVERY_UNCERTAIN_AFTER"]),
            "JOBS_REDIS_BACKOFF_MAX": str(current_app.config["JOBS_REDIS_BACKOFF_MAX"]),
            "JOBS_STALE_AFTER": str(current_app.config["JOBS_STALE_AFTER"]),
        }
    )
    return env


def start_worker(config: dict, *args: str, log: Path | None = None) -> subprocess.Popen:
    """``flask --app wsgi jobs worker ARGS`` as a real process (its own process group, so it can be killed whole).
    Output goes to a pipe, or to the file ``log`` (appended) for a long-running worker nobody reads meanwhile."""
    return _start_jobs_process(config, ["worker", *args], log)


def start_scheduler(config: dict, log: Path | None = None) -> subprocess.Popen:
    """``flask --app wsgi jobs scheduler`` as a real process (own process group)."""
    return _start_jobs_process(config, ["scheduler"], log)


def _start_jobs_process(config: dict, args: list[str], log: Path | None) -> subprocess.Popen:
    output = open(log, "ab") if log is not None else subprocess.PIPE  # noqa: SIM115  (the child has its own copy)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", *args],
        cwd=ROOT,
        env=worker_env(config),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if log is not None:
        output.close()
    return proc


def run_worker_burst(config: dict, timeout: float = 60) -> str:
    proc = start_worker(config, "--burst")
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output.decode()
    return output.decode()


def kill_worker(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
