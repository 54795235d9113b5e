"""SLA clocks with a controlled clock: due times, pause/resume, re-targeting, DST, business hours, the sweep."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import Calendar, Holiday, OutboxMessage, SlaEvent, SlaPolicy, TierSpan
from portal.services import sla, sla_sweep
from portal.services import tickets as svc
from tests.conftest import login

UTC = UTC
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def advance(self, **kwargs):
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock(T0)
    monkeypatch.setattr(svc, "utcnow", lambda: c.now)
    return c


@pytest.fixture
def people(make_org, make_user):
    org = make_org("Demo", "demo.test")
    return {
        "org": org,
        "customer": make_user("customer", organization=org),
        "agent": make_user("agent"),
        "manager": make_user("manager"),
    }


def new_ticket(people, priority="medium", **kw):
    ticket = svc.create_ticket(
        people["agent"],
        subject="Import fails",
        description="Row 3 breaks.",
        category=kw.pop("category", "data"),
        priority=priority,
        requester=people["customer"],
    )
    db.session.commit()
    return ticket


@pytest.mark.parametrize(
    ("priority", "first", "resolution"),
    [
        ("critical", timedelta(minutes=15), timedelta(hours=4)),
        ("high", timedelta(hours=1), timedelta(hours=8)),
        ("medium", timedelta(hours=4), timedelta(hours=24)),
        ("low", timedelta(hours=24), timedelta(hours=72)),
    ],
)
def test_due_times_for_each_priority(clock, people, priority, first, resolution):
    ticket = new_ticket(people, priority)
    assert ticket.first_response_due == T0 + first
    assert ticket.resolution_due == T0 + resolution
    assert ticket.first_response_risk_at == T0 + first * 0.75
    assert ticket.next_due_at == T0 + first
    assert sla.sla_status(ticket, T0) == {"first_response": "ok", "resolution": "ok"}
    assert sla.sla_status(ticket, T0 + first * 0.8) == {
        "first_response": "at_risk",
        "resolution": "ok" if priority != "critical" else "ok",
    }
    # Reaching the limit is not a breach; running past it is.
    assert sla.sla_status(ticket, T0 + first)["first_response"] == "at_risk"
    assert sla.sla_status(ticket, T0 + first + timedelta(microseconds=1))["first_response"] == "breached"


def test_organization_policy_wins_over_default(clock, people):
    db.session.add(SlaPolicy(name="Default", medium_first_response=120))
    db.session.add(
        SlaPolicy(name="Enterprise", organization_id=people["org"].id, medium_first_response=30, at_risk_percent=50)
    )
    db.session.commit()
    ticket = new_ticket(people)
    assert ticket.first_response_due == T0 + timedelta(minutes=30)
    assert ticket.first_response_risk_at == T0 + timedelta(minutes=15)


def test_pending_pauses_resolution_and_resume_adds_paused_time(clock, people):
    ticket = new_ticket(people, "high")
    clock.advance(minutes=30)
    svc.reply_to_ticket(people["agent"], ticket, "Could you send the file?", status="pending")
    db.session.commit()
    assert ticket.paused_since == clock.now
    assert sla.sla_status(ticket, clock.now + timedelta(hours=20))["resolution"] == "paused"
    assert sla.sla_status(ticket, clock.now)["first_response"] == "met"
    clock.advance(hours=10)  # the customer answers ten hours later
    svc.reply_to_ticket(people["customer"], ticket, "Here it is.")
    db.session.commit()
    assert ticket.status.value == "open" and ticket.paused_since is None
    assert ticket.paused_seconds == 10 * 3600
    assert ticket.resolution_due == T0 + timedelta(hours=8 + 10)
    assert ticket.next_due_at == ticket.resolution_due
    # the sweep does not breach a paused clock
    clock.advance(hours=1)
    svc.change_status(people["agent"], ticket, "pending", expected_version=ticket.version)
    db.session.commit()
    assert sla_sweep.run_sweep(T0 + timedelta(hours=40))["breached"] == 0


def test_priority_change_retargets_from_creation(clock, people):
    ticket = new_ticket(people, "low")
    clock.advance(minutes=20)
    svc.change_priority(people["agent"], ticket, "critical", expected_version=ticket.version)
    db.session.commit()
    assert ticket.first_response_due == T0 + timedelta(minutes=15)  # from creation, already overdue
    assert ticket.resolution_due == T0 + timedelta(hours=4)
    # The raise itself breaches (elapsed 20 min > 15 min): recorded with the change, at its instant, not by a sweep.
    assert ticket.first_response_breached_at == clock.now and ticket.first_response_breach_priority == "critical"
    assert sla_sweep.run_sweep(clock.now + timedelta(seconds=1))["breached"] == 0
    assert {(e.target.value, e.kind.value, e.at) for e in db.session.scalars(select(SlaEvent))} == {
        ("first_response", "at_risk", clock.now),
        ("first_response", "breached", clock.now),
    }


def test_first_public_staff_reply_meets_first_response_internal_note_does_not(clock, people):
    ticket = new_ticket(people, "high")
    clock.advance(minutes=10)
    svc.reply_to_ticket(people["agent"], ticket, "Looking into it.", internal=True)
    db.session.commit()
    assert ticket.first_response_at is None
    clock.advance(minutes=10)
    svc.reply_to_ticket(people["agent"], ticket, "We are on it.")
    db.session.commit()
    assert db.session.scalars(select(SlaEvent)).all() == []  # nothing crossed
    assert ticket.first_response_achieved_at == ticket.first_response_decided_at == T0 + timedelta(minutes=20)
    assert ticket.first_response_breached_at is None
    assert ticket.next_due_at == ticket.resolution_due


def test_solving_in_time_records_resolution_met(clock, people):
    ticket = new_ticket(people, "critical")
    clock.advance(minutes=5)
    svc.reply_to_ticket(people["agent"], ticket, "Fixed.", status="solved")
    db.session.commit()
    assert sla.sla_status(ticket, clock.now + timedelta(days=3)) == {"first_response": "met", "resolution": "met"}
    assert ticket.sla_check_at is None and ticket.next_due_at is None
    assert ticket.first_response_achieved_at == ticket.resolution_achieved_at == clock.now
    assert ticket.resolution_decided_at == clock.now and ticket.resolution_breached_at is None


def test_dst_day_due_time_and_page_in_local_time(monkeypatch, people, client, make_user):
    # 2026-03-29: clocks in London go from 01:00 GMT to 02:00 BST. Created 00:50 UTC (= 00:50 GMT).
    created = datetime(2026, 3, 29, 0, 50, tzinfo=UTC)
    monkeypatch.setattr(svc, "utcnow", lambda: created)
    ticket = new_ticket(people, "medium")
    assert ticket.first_response_due == datetime(2026, 3, 29, 4, 50, tzinfo=UTC)  # four real hours later
    assert ticket.resolution_due == datetime(2026, 3, 30, 0, 50, tzinfo=UTC)  # 24 real hours
    london = make_user("agent", timezone="Europe/London")
    login(client, london)
    page = client.get(f"/agent/tickets/{ticket.reference}").text
    assert "2026-03-29 05:50 BST" in page  # the wall clock shows five hours after 00:50 GMT
    assert "2026-03-29 00:50 GMT" in page  # created


def test_business_hours_calendar_skips_nights_weekends_and_holidays_across_dst():
    cal = Calendar(
        name="London office",
        timezone="Europe/London",
        always_open=False,
        weekly_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    cal.holidays.append(Holiday(day=date(2026, 3, 30), name="Bank holiday (test)"))
    db.session.add(cal)
    db.session.flush()
    friday = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # 16:00 GMT: one working hour left on Friday
    # Monday 30th is a holiday; Tuesday 31st is BST: opens 08:00 UTC; 3 more hours → 11:00 UTC
    assert sla.add_working_time(cal, friday, 4 * 60) == datetime(2026, 3, 31, 11, 0, tzinfo=UTC)
    assert sla.add_working_time(None, friday, 60) == friday + timedelta(hours=1)


def test_policy_with_calendar_applies_to_tickets(clock, people):
    cal = Calendar(
        name="Chat hours",
        timezone="UTC",
        always_open=False,
        weekly_hours={d: [["08:00", "10:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    db.session.add(cal)
    db.session.flush()
    db.session.add(SlaPolicy(name="Default", calendar_id=cal.id))
    db.session.commit()
    ticket = new_ticket(people, "high")  # Tuesday 09:00 UTC: 60 working minutes → 10:00 the same day
    assert ticket.first_response_due == T0 + timedelta(hours=1)
    # 8 working hours: 1 h Tue, 2 h each Wed/Thu/Fri, 1 h Monday → Mon 16 March 09:00
    assert ticket.resolution_due == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


def test_sweep_records_at_risk_and_breach_once_and_emits_one_outbox_row_each(clock, people):
    ticket = new_ticket(people, "medium")
    counts = []
    for minutes in range(0, 6 * 60, 7):  # a sweep every 7 minutes for six hours, several runs each time
        for _ in range(2):
            counts.append(sla_sweep.run_sweep(T0 + timedelta(minutes=minutes)))
            db.session.commit()
    events = db.session.scalars(select(SlaEvent).order_by(SlaEvent.id)).all()
    assert [(e.target.value, e.kind.value, e.at) for e in events] == [
        ("first_response", "at_risk", T0 + timedelta(hours=3)),
        ("first_response", "breached", T0 + timedelta(hours=4)),
    ]
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind.like("notify.sla_%")).order_by(OutboxMessage.id)
    ).all()
    assert [(m.kind, m.dedupe_key) for m in rows] == [
        ("notify.sla_at_risk", f"sla:{ticket.id}:first_response:notify.sla_at_risk"),
        ("notify.sla_breach", f"sla:{ticket.id}:first_response:notify.sla_breach"),
    ]
    assert rows[1].payload == {"ticket_id": ticket.id, "target": "first_response", "due_at": "2026-03-10T13:00:00Z"}
    assert sum(c["at_risk"] for c in counts) == 1 and sum(c["breached"] for c in counts) == 1
    # the breach is a fact: a later reply or a lower priority does not remove it
    svc.reply_to_ticket(people["agent"], ticket, "Sorry for the wait.")
    svc.change_priority(people["agent"], ticket, "low", expected_version=ticket.version)
    db.session.commit()
    assert db.session.scalar(select(func.count(SlaEvent.id)).where(SlaEvent.kind == "breached")) == 1


def test_breach_escalates_one_tier_and_high_at_risk_alerts_manager(clock, people):
    ticket = new_ticket(people, "high")
    sla_sweep.run_sweep(T0 + timedelta(minutes=50))
    db.session.commit()
    alert = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notify.sla_manager_alert"))
    assert alert is not None and alert.payload["ticket_id"] == ticket.id
    stats = sla_sweep.run_sweep(T0 + timedelta(minutes=61))
    db.session.commit()
    assert stats["escalated"] == 1 and ticket.tier.value == "L2"
    escalation = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notify.escalation"))
    assert escalation.payload == {
        "ticket_id": ticket.id,
        "from_tier": "L1",
        "to_tier": "L2",
        "reason": "sla_breached",
        "actor_id": None,
        "external_ref": None,
    }
    spans = db.session.scalars(select(TierSpan).order_by(TierSpan.id)).all()
    assert [(s.tier.value, s.started_at, s.ended_at) for s in spans] == [
        ("L1", T0, ticket.updated_at),
        ("L2", ticket.updated_at, None),
    ]
    assert sla_sweep.run_sweep(T0 + timedelta(hours=2))["escalated"] == 0  # nothing new crossed


def test_api_ticket_json_has_due_times_and_states(clock, people, client):
    from portal.services.accounts import create_api_token

    ticket = new_ticket(people, "critical")
    _, token = create_api_token(people["agent"], "t")
    db.session.commit()
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        body = client.get(f"/api/v1/tickets/{ticket.reference}", headers={"Authorization": f"Bearer {token}"}).json
    data = body["ticket"]
    assert data["first_response_due"] == "2026-03-10T09:15:00Z"
    assert data["resolution_due"] == "2026-03-10T13:00:00Z"
    assert data["external_id"] is None
    assert data["sla"] == {
        "first_response": {"state": "ok", "due": "2026-03-10T09:15:00Z", "achieved_at": None, "breached_at": None},
        "resolution": {"state": "ok", "due": "2026-03-10T13:00:00Z", "achieved_at": None, "breached_at": None},
    }


def _plan(sql: str) -> str:
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask whether an index *can* be used
        return " ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


def test_sweep_query_uses_an_index():
    stmt = sla.due_tickets_query(T0)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = _plan(sql)
    assert "ix_sla_checks_check_at" in plan, plan
