"""The ticket-change core's rules: the manager tier reaches the manager, the hand-over falls back to a free manager,
one rule for critical alerts, escalation reasons shown by their labels, the SLA panel refreshed after an inline
edit, and customers seeing only what is theirs on their ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OnCall, OutboxMessage, Role, ShiftRegion, TicketEvent
from portal.services import handover
from portal.services import tickets as svc
from portal.services.accounts import create_api_token
from portal.services.roster import set_away
from tests.conftest import csrf_token, login

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # a Monday, EMEA shift (08:00-16:00 UTC)
HX = {"HX-Request": "true"}


@pytest.fixture
def desk(make_org, make_user, make_ticket, monkeypatch):
    """An EMEA shift (two L1, one L2), an APAC senior agent on call, and a manager on flexible hours."""
    clock = {"now": T0}
    monkeypatch.setattr(svc, "utcnow", lambda: clock["now"])
    people = {
        "agent": make_user(Role.agent, name="Ann Agent", shift_region=ShiftRegion.emea),
        "agent2": make_user(Role.agent, name="Otto Agent", shift_region=ShiftRegion.emea),
        "senior": make_user(Role.senior_agent, name="Sam Senior", shift_region=ShiftRegion.emea),
        "on_call_senior": make_user(Role.senior_agent, name="Olive Oncall", shift_region=ShiftRegion.apac),
        "manager": make_user(Role.manager, name="Max Manager", shift_region=ShiftRegion.flexible),
    }
    db.session.add(
        OnCall(user_id=people["on_call_senior"].id, starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=2))
    )
    db.session.commit()
    customer = make_user(Role.customer, organization=make_org())
    return people, customer, clock, make_ticket


def test_escalating_to_the_manager_tier_assigns_the_manager_not_the_on_call_senior(desk):
    people, customer, _clock, make_ticket = desk
    ticket = make_ticket(customer)
    svc.escalate_ticket(people["agent"], ticket, to_tier="L2", reason="integration", expected_version=ticket.version)
    assert ticket.assignee == people["senior"]
    svc.escalate_ticket(
        people["senior"], ticket, to_tier="manager", reason="customer_escalation", expected_version=ticket.version
    )
    db.session.commit()
    assert ticket.tier.value == "manager" and ticket.assignee == people["manager"]
    assert ticket.routing_flagged_at is None  # the manager tier's own person: nothing to retry


def test_manager_tier_falls_back_to_the_on_call_manager_only(desk, make_user):
    people, customer, clock, make_ticket = desk
    set_away(people["manager"], True, T0)
    stand_in = make_user(Role.manager, name="Nina Standin")  # not rostered, but on call today
    db.session.add(OnCall(user_id=stand_in.id, starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(hours=8)))
    db.session.commit()
    ticket = make_ticket(customer)
    svc.update_ticket(people["senior"], ticket, expected_version=ticket.version, tier="L2")
    svc.escalate_ticket(
        people["senior"], ticket, to_tier="manager", reason="policy_decision", expected_version=ticket.version
    )
    db.session.commit()
    assert ticket.assignee == stand_in  # never the on-call senior agent


def test_handover_gives_a_ticket_to_the_free_manager_instead_of_reporting_nobody(desk):
    people, customer, clock, make_ticket = desk
    clock["now"] = T0 - timedelta(hours=4)  # 06:00 UTC: APAC files, nobody of L1 on shift → fallback
    ticket = make_ticket(customer, priority="high")
    for person in ("agent", "agent2"):
        set_away(people[person], True, T0)
    db.session.commit()
    result = handover.run_handover(T0.replace(hour=8))
    db.session.commit()
    assert ticket.id in result["flagged"] and ticket.routing_flagged_at is not None
    assert ticket.assignee in (people["on_call_senior"], people["manager"])  # on call first, then the manager
    db.session.execute(OnCall.__table__.delete())
    set_away(people["agent"], False, T0)
    db.session.commit()
    result = handover.run_handover(T0.replace(hour=16))  # AMER has nobody: the EMEA agent is off shift now
    db.session.commit()
    assert ticket.assignee == people["manager"] and result["reassigned"] == {str(ticket.id): people["manager"].id}


def test_one_rule_for_critical_alerts(desk):
    people, customer, _clock, make_ticket = desk
    filed = make_ticket(customer, actor=people["agent"], priority="critical")
    raised = make_ticket(customer)
    svc.update_ticket(people["agent"], raised, expected_version=raised.version, priority="critical")
    svc.update_ticket(people["agent"], raised, expected_version=raised.version, category="integration")
    db.session.commit()
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("notify.%critical%"))).all()
    assert sorted((r.kind, r.payload["ticket_id"]) for r in rows) == [
        ("notify.critical_alert", filed.id),
        ("notify.critical_alert", raised.id),
    ]
    assert all(r.payload["user_ids"] == [people["senior"].id] for r in rows)  # the L2 on shift


def test_escalation_reason_label_on_the_timeline_and_in_the_api(desk, client, app):
    people, customer, _clock, make_ticket = desk
    ticket = make_ticket(customer)
    svc.escalate_ticket(people["agent"], ticket, to_tier="L2", reason="data_corruption", expected_version=1)
    db.session.commit()
    login(client, people["senior"])
    page = client.get(f"/agent/tickets/{ticket.reference}")
    assert "reason: Data corruption" in page.text and "data_corruption" not in page.text
    _token, token = create_api_token(people["senior"], "test")
    db.session.commit()
    data = client.get(f"/api/v1/tickets/{ticket.reference}", headers={"Authorization": f"Bearer {token}"}).json
    tier_events = [e for e in data["events"] if e.get("field") == "tier"]
    assert tier_events[-1]["reason"] == "Data corruption"


def _sla_panel(html: str) -> str:
    start = html.index('<section id="sla-panel"')
    return html[start : html.index("</section>", start)]


def test_inline_priority_change_refreshes_the_sla_panel_out_of_band(desk, client):
    people, customer, _clock, make_ticket = desk
    ticket = make_ticket(customer, priority="low")
    login(client, people["agent"])
    before = _sla_panel(client.get(f"/agent/tickets/{ticket.reference}").text)
    token = csrf_token(client, f"/agent/tickets/{ticket.reference}")
    response = client.post(
        f"/agent/tickets/{ticket.reference}/fields",
        data={"priority": "critical", "version": ticket.version, "csrf_token": token},
        headers=HX,
    )
    assert response.status_code == 200
    after = _sla_panel(response.text)
    assert 'hx-swap-oob="true"' in after.split(">", 1)[0]
    assert after.replace(' hx-swap-oob="true"', "") != before  # the due times moved with the priority
    assert 'hx-swap-oob="true"' not in before


def test_customers_see_their_conversation_and_status_but_not_internal_routing(desk, client):
    people, customer, _clock, make_ticket = desk
    ticket = make_ticket(customer)
    svc.update_ticket(people["senior"], ticket, expected_version=ticket.version, priority="high", tier="L2")
    svc.reply_to_ticket(people["senior"], ticket, "Looking into it.", status="pending")
    svc.reply_to_ticket(people["senior"], ticket, "Internal: check the ERP log.", internal=True)
    db.session.commit()
    login(client, customer)
    page = client.get(f"/portal/tickets/{ticket.reference}").text
    assert "Looking into it." in page and "check the ERP log" not in page
    assert "<strong>status</strong>" in page
    for hidden in ("<strong>tier</strong>", "<strong>assignee</strong>", "<strong>priority</strong>"):
        assert hidden not in page
    staff_fields = {
        e.field for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)) if e.field
    }
    assert {"tier", "assignee", "priority", "status"} <= staff_fields  # staff still see every change
