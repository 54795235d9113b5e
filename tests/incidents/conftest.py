"""Incident test fixtures: a cast of users in two organizations, a real SMTP server (aiosmtpd) the workers send to,
and a helper that runs the outbox in-process until nothing is due (planners emit chunk jobs)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role, utcnow
from tests.ops.conftest import _Mailbox, free_port, slack_receiver  # noqa: F401  (a fixture)
from workers.inline import run_pending


@pytest.fixture
def cast(make_org, make_user):
    acme, other = make_org("Acme"), make_org("Other Ltd")
    return SimpleNamespace(
        acme=acme,
        other=other,
        a1=make_user(Role.customer, organization=acme),
        a2=make_user(Role.customer, organization=acme),
        a3=make_user(Role.customer, organization=acme),
        b1=make_user(Role.customer, organization=other),
        agent=make_user(Role.agent),
        senior=make_user(Role.senior_agent),
        manager=make_user(Role.manager),
        admin=make_user(Role.admin),
    )


@pytest.fixture
def smtp(app, monkeypatch):
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": controller.port, "MAIL_TIMEOUT": 10.0}.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()


def run_jobs(rounds: int = 10) -> int:
    total = 0
    for _ in range(rounds):
        done = run_pending()
        total += done
        if not done:
            break
    db.session.expire_all()
    return total


def rerun(kinds: list[str]) -> int:
    """Make finished rows of ``kinds`` due again (a retried job) and run them."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind.in_(kinds))
        .values(status=OutboxStatus.pending, attempts=0, available_at=utcnow())
    )
    db.session.commit()
    return run_jobs()
