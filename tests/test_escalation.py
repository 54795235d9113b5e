"""Escalation tiers: a reason per step, rights, external reference, tier time, the agent page form."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Ticket, TicketEvent, TierSpan
from portal.services import escalation
from portal.services import tickets as svc
from portal.services.errors import Conflict, Forbidden, ValidationFailed
from tests.conftest import csrf_token, login

UTC = UTC
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


@pytest.fixture
def world(make_org, make_user, make_ticket, monkeypatch):
    clock = {"now": T0}
    monkeypatch.setattr(svc, "utcnow", lambda: clock["now"])
    org = make_org()
    people = {r: make_user(r) for r in ("agent", "senior_agent", "manager")}
    ticket = make_ticket(make_user("customer", organization=org))
    return people, ticket, clock


def test_escalation_chain_with_reasons_and_tier_time(world):
    people, ticket, clock = world
    clock["now"] = T0 + timedelta(minutes=30)
    svc.escalate_ticket(people["agent"], ticket, to_tier="L2", reason="data_corruption", expected_version=1)
    clock["now"] = T0 + timedelta(hours=2)
    svc.escalate_ticket(
        people["senior_agent"], ticket, to_tier="manager", reason="customer_escalation", expected_version=2
    )
    clock["now"] = T0 + timedelta(hours=3)
    svc.escalate_ticket(
        people["manager"], ticket, to_tier="engineering", reason="bug", external_ref="ENG-4711", expected_version=3
    )
    db.session.commit()
    assert ticket.tier.value == "engineering" and ticket.version == 4
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.field == "tier").order_by(TicketEvent.id)).all()
    assert [(e.old_value, e.new_value, e.body) for e in events] == [
        ("L1", "L2", "Data corruption"),
        ("L2", "manager", "Customer escalation"),
        ("manager", "engineering", "Bug · external issue ENG-4711"),
    ]
    payloads = [
        m.payload
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "notify.escalation").order_by(OutboxMessage.id)
        )
    ]
    assert payloads[-1] == {
        "ticket_id": ticket.id,
        "from_tier": "manager",
        "to_tier": "engineering",
        "reason": "bug",
        "actor_id": people["manager"].id,
        "external_ref": "ENG-4711",
    }
    assert len(payloads) == 3
    spent = dict(escalation.tier_time(ticket, T0 + timedelta(hours=5)))
    assert {t.value: s for t, s in spent.items()} == {"L1": 1800, "L2": 5400, "manager": 3600, "engineering": 7200}


@pytest.mark.parametrize(
    ("actor", "to_tier", "reason", "ref", "error"),
    [
        ("agent", "manager", "sla_at_risk", None, ValidationFailed),  # skips a tier
        ("agent", "L2", "outage", None, ValidationFailed),  # reason of another step
        ("agent", "L2", "sla_breached", None, ValidationFailed),  # the system's own reason
        ("agent", "L2", "security", "ENG-1", ValidationFailed),  # a reference only for engineering
        ("agent", "bogus", "security", None, ValidationFailed),
    ],
)
def test_invalid_escalations_write_nothing(world, actor, to_tier, reason, ref, error):
    people, ticket, _ = world
    with pytest.raises(error):
        svc.escalate_ticket(people[actor], ticket, to_tier=to_tier, reason=reason, external_ref=ref, expected_version=1)
    db.session.rollback()
    assert db.session.get(Ticket, ticket.id).version == 1


def test_rights_and_stale_version(world):
    people, ticket, _ = world
    svc.escalate_ticket(people["agent"], ticket, to_tier="L2", reason="integration", expected_version=1)
    db.session.commit()
    with pytest.raises(Forbidden):  # an L1 agent cannot escalate an L2 ticket to the manager
        svc.escalate_ticket(people["agent"], ticket, to_tier="manager", reason="sla_at_risk", expected_version=2)
    with pytest.raises(Conflict):
        svc.escalate_ticket(people["senior_agent"], ticket, to_tier="manager", reason="sla_at_risk", expected_version=1)


def test_escalate_form_on_agent_page(world, client):
    people, ticket, _ = world
    login(client, people["agent"])
    page = client.get(f"/agent/tickets/{ticket.reference}").text
    assert 'id="sla-panel"' in page and "Escalate to L2" in page and "Technical complexity" in page
    token = csrf_token(client)
    bad = client.post(
        f"/agent/tickets/{ticket.reference}/escalate",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "to_tier": "L2", "reason": "nonsense"},
    )
    assert bad.status_code == 422 and "Choose one of" in bad.text
    ok = client.post(
        f"/agent/tickets/{ticket.reference}/escalate",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "to_tier": "L2", "reason": "technical_complexity"},
    )
    assert ok.status_code == 200
    assert ok.text.lstrip().startswith('<section id="sla-panel"')
    assert 'id="ticket-header"' in ok.text and 'data-version="2"' in ok.text  # header refreshed out of band
    assert "Escalate to" not in ok.text  # an L1 agent cannot take it further
    stale = client.post(
        f"/agent/tickets/{ticket.reference}/escalate",
        headers={**HX, "X-CSRFToken": token},
        data={"version": 1, "to_tier": "manager", "reason": "sla_at_risk"},
    )
    assert stale.status_code in (403, 409)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).tier.value == "L2"
    spans = db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == ticket.id)).all()
    assert [s.tier.value for s in spans] == ["L1", "L2"]


def test_queue_shows_sla_badge_sorts_by_due_and_at_risk_view(world, client, make_ticket):
    people, ticket, clock = world
    clock["now"] = T0 + timedelta(minutes=5)
    urgent = make_ticket(ticket.requester, subject="Urgent one", priority="high")
    login(client, people["manager"])
    html = client.get("/agent/queue").text
    assert html.index(urgent.reference) < html.index(ticket.reference)  # due sooner, listed first
    assert 'data-sla="' in html
    risky = client.get("/agent/queue?view=at_risk").text  # now (real time) is long after these were due
    assert urgent.reference in risky and ticket.reference in risky
    assert 'data-count="at_risk"' in client.get("/agent/queue/counts").text
