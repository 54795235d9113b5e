"""Follow-the-sun routing on the demo roster with a controlled clock; hand-over; the roster pages."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.demo import seed
from portal.extensions import db
from portal.models import OnCall, OutboxMessage, Role, ShiftRegion, StaffStatus, Ticket, TicketEvent, TimeOff, User
from portal.services import handover, routing
from portal.services import tickets as svc
from portal.services.roster import set_away
from tests.conftest import csrf_token, login

UTC = UTC
DAY = datetime(2026, 4, 7, tzinfo=UTC)


@pytest.fixture
def team():
    seed(echo=lambda *_: None)
    db.session.execute(OnCall.__table__.delete())  # tests add their own rotation
    # and start from an empty desk: the seed routed its tickets at the real time of day, which must not decide the
    # loads and round-robin turns these tests count on
    db.session.execute(update(Ticket).values(assignee_id=None, routing_flagged_at=None))
    db.session.execute(StaffStatus.__table__.delete())
    db.session.commit()
    return {u.name: u for u in db.session.scalars(select(User).where(User.role != Role.customer))}


@pytest.fixture
def at(monkeypatch):
    """Create tickets as if it were ``when``."""

    def set_time(when):
        monkeypatch.setattr(svc, "utcnow", lambda: when)

    return set_time


def file_ticket(category="data", priority="medium", **kw):
    customer = db.session.scalar(select(User).where(User.email == "customer@demo.test"))
    ticket = svc.create_ticket(
        customer, subject="Help", description="Please help.", category=category, priority=priority
    )
    db.session.commit()
    return ticket


def test_at_0300_a_data_ticket_goes_to_the_apac_data_specialist(team, at):
    at(DAY + timedelta(hours=3))
    ticket = file_ticket("data")
    assert ticket.assignee.name == "Priya Patel"  # APAC L1, specialised in data
    event = db.session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "assignee")
    )
    assert event.author_id is None and event.new_value == "Priya Patel" and event.ticket_version == ticket.version
    assert ticket.version == 1 and ticket.routing_flagged_at is None


def test_integration_goes_to_l2_and_critical_alerts_on_shift_l2(team, at):
    at(DAY + timedelta(hours=3))
    ticket = file_ticket("integration")
    assert ticket.tier.value == "L2" and ticket.assignee.name == "Emily Davis"  # APAC L2
    agent = team["Mike Chen"]
    critical = svc.create_ticket(
        agent,
        subject="Outage",
        description="Down",
        category="technical",
        priority="critical",
        requester=team["Mike Chen"],
    )
    db.session.commit()
    alert = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"critical:{critical.id}"))
    assert alert.payload == {"ticket_id": critical.id, "user_ids": [team["Emily Davis"].id]}


def test_at_0800_emea_takes_over(team, at):
    at(DAY + timedelta(hours=8))
    ticket = file_ticket("data")
    assert ticket.assignee.name == "Sarah Johnson"  # EMEA L1, data
    assert routing.choose_assignee(ticket, DAY + timedelta(hours=7, minutes=59)).name == "Priya Patel"
    assert routing.choose_assignee(ticket, DAY + timedelta(hours=16)).shift_region is ShiftRegion.amer


def test_away_or_time_off_is_never_chosen(team, at):
    now = DAY + timedelta(hours=3)
    set_away(team["Priya Patel"], True, now)
    db.session.add(
        TimeOff(user_id=team["Mike Chen"].id, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=2))
    )
    db.session.commit()
    at(now)
    for _ in range(5):
        ticket = file_ticket("data")
        assert ticket.assignee is None or ticket.assignee.name not in ("Priya Patel", "Mike Chen")
    # neither APAC L1 is available: nobody of the tier is on shift → the on-call person
    db.session.add(
        OnCall(user_id=team["John Smith"].id, starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=6))
    )
    db.session.commit()
    ticket = file_ticket("data")
    assert ticket.assignee.name == "John Smith" and ticket.routing_flagged_at == now


def test_nobody_on_shift_goes_to_on_call_else_manager_else_unassigned(team, at):
    now = DAY + timedelta(hours=3)
    for name in ("Priya Patel", "Mike Chen"):
        set_away(team[name], True, now)
    db.session.add(OnCall(user_id=team["Alex Morgan"].id, starts_at=DAY, ends_at=DAY + timedelta(days=1)))
    db.session.commit()
    at(now)
    assert file_ticket("data").assignee.name == "Alex Morgan"
    db.session.execute(OnCall.__table__.delete())
    db.session.commit()
    manager_ticket = file_ticket("data")
    assert manager_ticket.assignee.name == "Robert Taylor" and manager_ticket.routing_flagged_at == now
    set_away(team["Robert Taylor"], True, now)
    db.session.commit()
    nobody = file_ticket("data")
    assert nobody.assignee_id is None and nobody.routing_flagged_at == now


def test_without_a_roster_new_tickets_stay_unassigned(make_user, make_org, make_ticket):
    make_user("agent")
    make_user("manager")  # staff without a shift region are not in the roster
    ticket = make_ticket(make_user("customer", organization=make_org()))
    assert ticket.assignee_id is None


def test_load_and_round_robin_spread_30_tickets_evenly(team, at):
    now = DAY + timedelta(hours=10)  # EMEA: Sarah Johnson (account, data) and Tom Baker (technical, general)
    at(now)
    tickets = [file_ticket("training") for _ in range(30)]  # nobody specialised: equals
    assert Counter(t.assignee.name for t in tickets) == {"Sarah Johnson": 15, "Tom Baker": 15}
    first_two = {tickets[0].assignee.name, tickets[1].assignee.name}
    assert first_two == {"Sarah Johnson", "Tom Baker"}


def test_reopening_routes_again_when_the_assignee_is_off_shift(team, at):
    at(DAY + timedelta(hours=3))
    ticket = file_ticket("data")
    agent = ticket.assignee
    svc.change_status(agent, ticket, "solved", expected_version=ticket.version)
    db.session.commit()
    at(DAY + timedelta(hours=9))
    svc.reply_to_ticket(ticket.requester, ticket, "It broke again.")
    db.session.commit()
    assert ticket.status.value == "open" and ticket.assignee.name == "Sarah Johnson"


def test_handover_reassigns_open_critical_and_high_and_sends_summary(team, at):
    at(DAY + timedelta(hours=5))
    high = file_ticket("data", "high")
    medium = file_ticket("data", "medium")
    technical = file_ticket("technical", "high")
    assert {high.assignee.shift_region, medium.assignee.shift_region} == {ShiftRegion.apac}
    handover_at = DAY + timedelta(hours=8, minutes=1)
    result = handover.run_handover(handover_at)
    db.session.commit()
    assert result["shift"] == "EMEA" and result["from_shift"] == "APAC"
    assert high.assignee.name == "Sarah Johnson" and technical.assignee.name == "Tom Baker"
    assert medium.assignee.shift_region is ShiftRegion.apac  # medium stays with its owner
    summary = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notify.handover_summary"))
    assert summary.payload == {
        "shift": "EMEA",
        "from_shift": "APAC",
        "flagged": [],
        "reassigned": {str(high.id): team["Sarah Johnson"].id, str(technical.id): team["Tom Baker"].id},
    }
    assert summary.dedupe_key == "handover:EMEA:2026-04-07T08:00:00+00:00"
    assert handover.run_handover(handover_at + timedelta(minutes=30))["skipped"] is True
    reassign = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == high.id, TicketEvent.field == "assignee")
    ).all()[-1]
    assert reassign.author_id is None and reassign.ticket_version == high.version == 2


def test_handover_flags_when_nobody_comes_and_retries_later(team, at):
    at(DAY + timedelta(hours=5))
    high = file_ticket("data", "high")
    for name in ("Sarah Johnson", "Tom Baker"):
        set_away(team[name], True)
    db.session.commit()
    result = handover.run_handover(DAY + timedelta(hours=8))
    db.session.commit()
    assert result["flagged"] == [high.id] and high.routing_flagged_at is not None
    result = handover.run_handover(DAY + timedelta(hours=16))  # AMER shift starts: the flagged ticket is retried
    db.session.commit()
    assert high.assignee.shift_region is ShiftRegion.amer and high.routing_flagged_at is None


def test_cli_commands(team, runner):
    result = runner.invoke(args=["roster", "handover", "--now", "2026-04-07T16:00:00Z"])
    assert result.exit_code == 0 and '"shift": "AMER"' in result.output
    result = runner.invoke(args=["sla", "sweep", "--now", "2026-04-07T16:00:00Z"])
    assert result.exit_code == 0 and "SLA sweep: checked" in result.output
    assert runner.invoke(args=["sla", "sweep", "--now", "yesterday"]).exit_code != 0


def test_who_is_on_shift_page_and_roster_editing(team, client, monkeypatch):
    login(client, team["Tom Baker"], "demo-pass-2026")
    page = client.get("/ops/roster")
    assert page.status_code == 200 and "Priya Patel" in page.text and "On shift now" in page.text
    assert client.get("/ops/roster/manage").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, team["Jennifer Lee"], "demo-pass-2026")
    token = csrf_token(client)
    bad = client.post(
        "/ops/roster/shifts", data={"region": "EMEA", "start": "25:00", "end": "16:00", "csrf_token": token}
    )
    assert bad.status_code == 422 and "Use HH:MM" in bad.text
    ok = client.post(
        "/ops/roster/shifts", data={"region": "EMEA", "start": "07:00", "end": "16:00", "csrf_token": token}
    )
    assert ok.status_code == 303
    assert ShiftRegion.emea in routing.regions_on_shift(DAY + timedelta(hours=7, minutes=30))
    away = client.post(f"/ops/roster/people/{team['Emily Davis'].id}/away", data={"away": "1", "csrf_token": token})
    assert away.status_code == 303
    db.session.expire_all()
    assert db.session.get(StaffStatus, team["Emily Davis"].id).is_away
    off = client.post(
        "/ops/roster/time-off",
        data={
            "user_id": team["Tom Baker"].id,
            "starts_at": "2026-04-08T09:00",
            "ends_at": "2026-04-08T08:00",
            "csrf_token": token,
        },
    )
    assert off.status_code == 422 and "after the start" in off.text
    call = client.post(
        "/ops/roster/on-call",
        data={
            "user_id": team["John Smith"].id,
            "starts_at": "2026-04-08T00:00",
            "ends_at": "2026-04-09T00:00",
            "csrf_token": token,
        },
    )
    assert call.status_code == 303
    assert db.session.scalar(select(OnCall.user_id)) == team["John Smith"].id


def _assignment_notices(ticket):
    return [
        m.payload["assignee_id"]
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "notify.assignment").order_by(OutboxMessage.id)
        )
        if m.payload["ticket_id"] == ticket.id
    ]


def test_the_person_routing_assigns_is_the_one_told(team, at):
    """A new ticket routed to someone tells that person; an escalation re-routed to the next tier tells the new
    assignee, never the previous one."""
    at(DAY + timedelta(hours=10))  # EMEA on shift
    ticket = file_ticket("data")
    first = ticket.assignee
    assert first is not None and _assignment_notices(ticket) == [first.id]
    svc.escalate_ticket(
        team["Robert Taylor"], ticket, to_tier="L2", reason="technical_complexity", expected_version=ticket.version
    )
    db.session.commit()
    assert ticket.assignee.role is Role.senior_agent and ticket.assignee_id != first.id
    assert _assignment_notices(ticket) == [first.id, ticket.assignee_id]


@pytest.mark.parametrize("batched", [True, False])
def test_the_sweeps_escalation_tells_the_new_assignee(team, at, batched):
    from portal.services import sla_sweep

    at(DAY + timedelta(hours=9))
    ticket = file_ticket("data", priority="high")
    first = ticket.assignee
    sla_sweep.run_sweep(DAY + timedelta(hours=12), batched=batched)  # first response breached: escalated to L2
    db.session.commit()
    db.session.refresh(ticket)
    assert ticket.tier.value == "L2" and ticket.assignee_id not in (None, first.id)
    assert _assignment_notices(ticket) == [first.id, ticket.assignee_id]
