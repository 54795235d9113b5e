"""Real parts for the webhook tests: an HTTP receiver (http.server in a thread) that records every POST and
answers as told, an admin with a subscription made through the pages (its secret read from the page that showed it
once), and the in-process job runner."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.extensions import db
from portal.models import Role
from portal.services.webhooks import signing
from tests.conftest import csrf_token, login
from tests.ops.conftest import free_port, slack_receiver  # noqa: F401  (a fixture for the Slack test)
from workers.inline import run_pending

ALL_EVENTS = (
    "ticket.created",
    "ticket.updated",
    "ticket.solved",
    "sla.at_risk",
    "sla.breached",
    "incident.updated",
    "csat.received",
)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    status: int = 0  # what the receiver answered (0: never answered)

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["X-Webhook-Id"]


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)
    # Answers by path, consumed in order; when a path's list is empty: 200 "ok". An answer is (status, headers, body).
    answers: dict[str, list[tuple[int, dict, bytes]]] = field(default_factory=dict)
    stall_on: set[int] = field(default_factory=set)  # 1-based request numbers received but never answered
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, path: str, *answers: tuple[int, dict, bytes]) -> None:
        self.answers.setdefault(path, []).extend(answers)

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]

    def confirmed_ids(self) -> list[str]:
        return [r.id for r in self.received if 200 <= r.status < 300]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = Received(self.path, dict(self.headers.items()), body)
        with receiver.lock:
            receiver.received.append(record)
            number = len(receiver.received)
            queue = receiver.answers.get(self.path.split("?")[0]) or []
            status, headers, payload = queue.pop(0) if queue else (200, {}, b"ok")
        if number in receiver.stall_on:
            receiver.stalled.set()
            receiver.release.wait(60)  # the sender is killed meanwhile; never answered
            self.close_connection = True
            return
        record.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    server.daemon_threads = True
    server.receiver = Receiver(server.server_port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.receiver
    server.receiver.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def allow_local(app, monkeypatch):
    """The local receiver is a development host: allow-listed by name and address."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_HOSTS", ("127.0.0.1", "localhost"))


SECRET_RE = re.compile(r'id="webhook-secret"[^>]*>([^<]+)<')


def create_subscription(client, url: str, chosen=ALL_EVENTS, description: str = "CRM") -> tuple[int, str]:
    """Through the admin page (the signed-in client must be an admin): returns (id, the secret shown once)."""
    token = csrf_token(client, "/admin/webhooks")
    response = client.post(
        "/admin/webhooks",
        data={"url": url, "description": description, "events": list(chosen), "active": "on", "csrf_token": token},
    )
    assert response.status_code == 200, response.text
    secret = SECRET_RE.search(response.text)[1].strip()
    link = re.search(r'href="/admin/webhooks/(\d+)"', response.text)
    return int(link[1]), secret


@pytest.fixture
def admin(make_user):
    return make_user(Role.admin)


@pytest.fixture
def subscribed(client, admin, receiver, allow_local):
    """An admin signed in on ``client`` and a subscription to every event at the receiver: (id, secret)."""
    login(client, admin)
    return create_subscription(client, receiver.url())


def run_jobs(rounds: int = 5) -> int:
    done = 0
    for _ in range(rounds):
        n = run_pending()
        done += n
        if not n:
            break
    db.session.expire_all()
    return done


def assert_signed(record: Received, secret: str) -> None:
    headers = record.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("ESG-Support-Portal-Webhooks/")
    assert headers["X-Webhook-Id"] == record.json["id"]
    assert headers["X-Webhook-Timestamp"].isdigit()
    assert signing.verify(secret, headers["X-Webhook-Timestamp"], record.body, headers["X-Webhook-Signature"])
    assert not signing.verify(
        "whsec_wrong", headers["X-Webhook-Timestamp"], record.body, headers["X-Webhook-Signature"]
    )
