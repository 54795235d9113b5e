"""The queue's "At risk" view is the managers' view: managers and admins get the tab and the list; agents
get neither, and asking for it shows them all open tickets instead."""

import re
from datetime import UTC, datetime

import pytest

from portal.services import tickets as svc

LONG_AGO = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # every target of a ticket filed then has passed


@pytest.fixture
def tickets(make_org, make_user, make_ticket, monkeypatch):
    customer = make_user("customer", organization=make_org())
    fresh = make_ticket(customer, subject="Fresh question", priority="low")  # filed now: on time
    monkeypatch.setattr(svc, "utcnow", lambda: LONG_AGO)
    overdue = make_ticket(customer, subject="Forgotten import", priority="high")
    return fresh, overdue


def _current_view(html: str) -> str:
    return re.search(r'href="/agent/queue\?view=(\w+)"\s*aria-current="page"', html).group(1)


@pytest.mark.parametrize("role", ["agent", "senior_agent"])
def test_agents_get_no_at_risk_view_and_fall_back_to_open(tickets, make_user, login_as, role):
    fresh, overdue = tickets
    client, _ = login_as(make_user(role))
    queue = client.get("/agent/queue").text
    assert "view=at_risk" not in queue and "At risk</a>" not in queue
    asked = client.get("/agent/queue?view=at_risk")
    assert asked.status_code == 200
    assert _current_view(asked.text) == "open"
    assert fresh.reference in asked.text and overdue.reference in asked.text  # all open, not only the risky one
    counts = client.get("/agent/queue/counts?view=at_risk").text
    assert 'data-count="at_risk"' not in counts and 'data-count="open"' in counts


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_get_the_at_risk_view(tickets, make_user, login_as, role):
    fresh, overdue = tickets
    client, _ = login_as(make_user(role))
    assert "view=at_risk" in client.get("/agent/queue").text
    risky = client.get("/agent/queue?view=at_risk").text
    assert _current_view(risky) == "at_risk"
    assert overdue.reference in risky and fresh.reference not in risky
    assert 'data-count="at_risk"' in client.get("/agent/queue/counts?view=at_risk").text
