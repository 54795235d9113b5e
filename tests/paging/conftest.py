"""Paging fixtures: a team with a primary and a secondary on call and a manager, the real receivers (aiosmtpd for
email, an HTTP receiver for Slack and one for the SMS gateway), and a signed webhook poster."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from portal.extensions import db
from portal.models import OnCall, Role, utcnow
from portal.models.paging import OnCallLevel
from portal.services.paging.hotline import sign
from tests.incidents.conftest import run_jobs, smtp  # noqa: F401  (fixtures and the job runner)
from tests.ops.conftest import free_port, slack_receiver  # noqa: F401

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning, the travel start of the clocked tests


class _SmsHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(
            {"body": json.loads(self.rfile.read(length)), "authorization": self.headers.get("Authorization")}
        )
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"queued": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _SmsHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def channels(app, monkeypatch, smtp, slack_receiver, sms_receiver):  # noqa: F811
    """Every paging channel pointed at a local receiver."""
    values = {
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{slack_receiver.server_port}/services/T0/B0/x",
        "SLACK_ALLOWED_HOSTS": ("127.0.0.1",),
        "SMS_GATEWAY_URL": f"http://127.0.0.1:{sms_receiver.server_port}/send",
        "SMS_GATEWAY_TOKEN": "sms-token",
        "MAIL_FROM": "ESG Support <support@support.test>",
    }
    for key, value in values.items():
        monkeypatch.setitem(app.config, key, value)
    return SimpleNamespace(mail=smtp, slack=slack_receiver, sms=sms_receiver)


@pytest.fixture
def team(make_user, make_org):
    acme = make_org("Acme", domains="acme.test")
    people = SimpleNamespace(
        acme=acme,
        primary=make_user(Role.senior_agent, name="Priya Shah", phone="+14155550101"),
        secondary=make_user(Role.agent, name="Sam Ray", phone="+14155550102"),
        manager=make_user(Role.manager, name="Morgan Lee", phone="+14155550103"),
        stand_in=make_user(Role.senior_agent, name="Olive Stand", phone="+14155550104"),
        customer=make_user(Role.customer, organization=acme, name="Casey Client", phone="+15555550199"),
        other=make_user(Role.customer, organization=acme, name="Other Client"),
    )
    return people


def rota(team, around: datetime | None = None) -> None:
    """The primary and the secondary on call for a day either side of ``around`` (default: now)."""
    around = around or utcnow()
    start, end = around - timedelta(days=1), around + timedelta(days=1)
    db.session.add_all(
        [
            OnCall(user_id=team.primary.id, starts_at=start, ends_at=end, level=OnCallLevel.primary),
            OnCall(user_id=team.secondary.id, starts_at=start, ends_at=end, level=OnCallLevel.secondary),
        ]
    )
    db.session.commit()


def payload(**over) -> dict:
    data = {
        "call_id": "CA-1001",
        "from": "+1 (555) 555-0199",
        "to": "+18003742748",
        "caller_name": "Casey Client",
        "started_at": "2026-03-02T09:59:00Z",
        "summary": "The whole emissions dashboard is down for all our users.",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def post_call(client, data, *, secret: str = "test-hotline-secret", timestamp: int | None = None, signature=None):
    body = json.dumps(data).encode() if not isinstance(data, bytes) else data
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Hotline-Timestamp": stamp, "X-Hotline-Signature": signature or sign(secret, stamp, body)}
    return client.post("/api/v1/hotline/calls", data=body, headers=headers, content_type="application/json")
