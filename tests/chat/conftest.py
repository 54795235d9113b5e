"""Live chat fixtures: a cast (two customers of one organization, one of another, agents, a manager), helpers to
put an agent online and to open a chat, a widget site and its session tokens, and the real SMTP server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from portal.extensions import db
from portal.models import Role, utcnow
from portal.models.widget import WidgetSite
from portal.services.chat import core
from portal.services.widget import sessions
from tests.incidents.conftest import run_jobs, smtp  # noqa: F401  (a fixture and a helper)


@pytest.fixture
def cast(make_org, make_user):
    acme, other = make_org("Acme"), make_org("Other Ltd")
    return SimpleNamespace(
        acme=acme,
        a1=make_user(Role.customer, organization=acme, name="Ada Visitor"),
        a2=make_user(Role.customer, organization=acme),
        b1=make_user(Role.customer, organization=other),
        agent=make_user(Role.agent, name="Alex Agent"),
        agent2=make_user(Role.agent, name="Bo Agent"),
        senior=make_user(Role.senior_agent),
        manager=make_user(Role.manager),
        admin=make_user(Role.admin),
    )


def online(*agents, now=None):
    for agent in agents:
        core.set_presence(agent, "online", now or utcnow())
    db.session.commit()


def open_chat(visitor, body="My import fails at row 3", now=None):
    chat = core.start_chat(visitor, body, now=now or utcnow())
    db.session.commit()
    return chat


@pytest.fixture
def widget_site():
    site = WidgetSite(name="ESG platform", public_key="pk-test-chat", origins=["https://app.example.test"])
    db.session.add(site)
    db.session.commit()
    return site


@pytest.fixture
def widget_token(widget_site):
    def issue(user):
        return sessions.issue(widget_site.id, user.id, verified=True)

    return issue
