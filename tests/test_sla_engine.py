"""The SLA clock engine, one rule at a time, on hand-made histories — first the pure function, then the same
histories lived through the ticket services (a controlled clock) and read back through the API."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from portal.extensions import db
from portal.models import SlaEvent
from portal.services import sla, sla_sweep
from portal.services import tickets as svc
from portal.services.accounts import create_api_token
from portal.services.sla_engine import Policy, Step, WorkCalendar, evaluate

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday
POLICY = sla.DEFAULT_POLICY  # critical 15 min / 4 h, high 1 h / 8 h, medium 4 h / 24 h, low 24 h / 72 h


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def facts(priority, steps, now, policy=POLICY):
    return evaluate(T0, priority, steps, policy, now)


# --------------------------------------------------------------------------- the pure engine


def test_pending_pauses_resolution_but_never_first_response():
    steps = [Step(at(hours=1), "status", "pending"), Step(at(hours=30), "status", "open")]
    result = facts("medium", steps, at(hours=31))
    # Resolution: 1 h before the pause + 1 h after = 2 h of 24 h; due 23 h after the resume.
    assert result.resolution.state == "ok" and result.resolution.elapsed == timedelta(hours=2)
    assert result.resolution.due == at(hours=30 + 23)
    # First response never pauses: 4 h limit, passed during the pause.
    assert result.first_response.state == "breached" and result.first_response.breached_at == at(hours=4)
    paused = facts("medium", steps[:1], at(hours=29))
    assert paused.resolution.state == "paused" and paused.resolution.due is None
    assert paused.resolution.paused_since == at(hours=1)


def test_a_paused_clock_shows_paused_before_at_risk():
    steps = [Step(at(hours=20), "status", "pending")]  # 20 h of 24 h used: at risk, but paused
    assert facts("medium", steps, at(hours=21)).resolution.state == "paused"


def test_reopen_withdraws_the_achievement_and_the_last_solve_counts():
    steps = [
        Step(at(hours=1), "staff_reply"),
        Step(at(hours=2), "status", "solved"),
        Step(at(hours=50), "status", "open"),  # 48 h in solved were paused
        Step(at(hours=53), "status", "solved"),
    ]
    reopened = facts("medium", steps[:3], at(hours=51))
    assert reopened.resolution.state == "ok" and reopened.resolution.achieved_at is None
    assert reopened.resolution.elapsed == timedelta(hours=3)
    final = facts("medium", steps, at(hours=60))
    assert final.resolution.state == "met" and final.resolution.achieved_at == at(hours=53)
    assert final.resolution.decided_at == at(hours=53)
    assert final.first_response.achieved_at == at(hours=1)  # the first response is not withdrawn


def test_reopen_above_the_limit_breaches_at_the_reopen():
    # Critical: 4 h resolution. Solved at 3 h, priority raised... no: medium solved at 23 h, then raised to high
    # (8 h) while solved: achieved, so no breach; the reopen leaves 23 h > 8 h and breaches at that instant.
    steps = [
        Step(at(hours=1), "staff_reply"),
        Step(at(hours=23), "status", "solved"),
        Step(at(hours=24), "priority", "high"),
        Step(at(hours=30), "status", "open"),
    ]
    solved = facts("medium", steps[:3], at(hours=25))
    assert solved.resolution.state == "met" and solved.resolution.breached_at is None
    result = facts("medium", steps, at(hours=31))
    assert result.resolution.breached_at == at(hours=30) and result.resolution.breach_priority == "high"
    assert result.first_response.state == "met"  # an achieved target can no longer breach


def test_raise_past_the_limit_breaches_at_the_raise_even_while_paused():
    steps = [
        Step(at(minutes=5), "staff_reply"),
        Step(at(hours=5), "status", "pending"),  # 5 h of low's 72 h used
        Step(at(hours=6), "priority", "critical"),  # 5 h > critical's 4 h: breached at the raise, although paused
    ]
    result = facts("low", steps, at(hours=7))
    assert result.resolution.state == "breached" and result.resolution.breached_at == at(hours=6)
    assert result.resolution.breach_priority == "critical"
    assert result.first_response.state == "met"  # answered in 5 minutes: the raise cannot breach it
    raised = facts("low", [Step(at(hours=5), "priority", "critical")], at(hours=6))
    assert raised.resolution.breached_at == at(hours=5)  # 5 h > 4 h, running: at the raise


def test_lowering_after_a_breach_keeps_the_breach():
    steps = [Step(at(minutes=20), "priority", "low")]
    result = facts("critical", steps, at(hours=1))
    assert result.first_response.state == "breached"
    assert result.first_response.breached_at == at(minutes=15) and result.first_response.breach_priority == "critical"


def test_raising_after_a_met_first_response_keeps_it_met():
    steps = [Step(at(minutes=50), "staff_reply"), Step(at(hours=2), "priority", "critical")]
    result = facts("low", steps, at(hours=5))
    assert result.first_response.state == "met" and result.first_response.breached_at is None
    assert result.resolution.breached_at == at(hours=4)  # 4 h critical resolution, then the clock ran on


def test_achieved_exactly_at_the_limit_is_met_and_running_past_it_is_breached():
    exactly = facts("high", [Step(at(hours=1), "staff_reply")], at(hours=2))
    assert exactly.first_response.state == "met" and exactly.first_response.achieved_at == at(hours=1)
    late = facts("high", [Step(at(hours=1, microseconds=1), "staff_reply")], at(hours=2))
    assert late.first_response.state == "breached" and late.first_response.breached_at == at(hours=1)
    # Pausing exactly at the limit does not breach either.
    paused = facts("medium", [Step(at(hours=24), "status", "pending")], at(hours=40))
    assert paused.resolution.state == "paused" and paused.resolution.breached_at is None
    # At the limit, still running: not yet breached, at risk (inclusive), due now.
    reached = facts("high", [], at(hours=1))
    assert reached.first_response.state == "at_risk" and reached.first_response.due == at(hours=1)


def test_solved_without_a_reply_achieves_the_first_response_at_the_solve():
    result = facts("high", [Step(at(minutes=30), "status", "solved")], at(hours=2))
    assert result.first_response.state == "met" and result.first_response.achieved_at == at(minutes=30)
    assert result.resolution.state == "met"


def test_closed_after_solved_keeps_the_resolution_achieved():
    steps = [Step(at(hours=1), "status", "solved"), Step(at(hours=100), "status", "closed")]
    result = facts("medium", steps, at(hours=200))
    assert result.resolution.state == "met" and result.resolution.achieved_at == at(hours=1)


def test_at_risk_is_inclusive_and_reported_with_its_instant():
    assert facts("high", [], at(minutes=45)).first_response.state == "at_risk"  # 75 % of 60 min exactly
    assert facts("high", [], at(minutes=44, seconds=59)).first_response.state == "ok"
    assert facts("high", [], at(minutes=50)).first_response.risk_reached_at == at(minutes=45)


def test_equal_instants_apply_one_at_a_time_in_order():
    # A reply and a solve at the same instant as the due time: the reply achieves first response exactly at it.
    steps = [Step(at(minutes=15), "staff_reply"), Step(at(minutes=15), "status", "solved")]
    result = facts("critical", steps, at(hours=1))
    assert result.first_response.state == "met" and result.resolution.state == "met"
    # Raise then lower at one instant: the raise breaches (elapsed above the critical limit) before the lowering.
    steps = [Step(at(hours=1), "priority", "critical"), Step(at(hours=1), "priority", "low")]
    assert facts("low", steps, at(hours=2)).first_response.breached_at == at(hours=1)


OFFICE = WorkCalendar(
    timezone="Europe/London",
    weekly_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    holidays=frozenset({date(2026, 10, 7)}),
)


def test_business_hours_resume_counts_working_time_exactly():
    policy = Policy(targets=POLICY.targets, calendar=OFFICE)
    created = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)  # Monday 16:00 BST: one working hour left that day
    steps = [
        Step(datetime(2026, 10, 5, 15, 30, tzinfo=UTC), "staff_reply"),
        Step(datetime(2026, 10, 5, 15, 30, tzinfo=UTC), "status", "pending"),  # 30 working minutes used
        Step(datetime(2026, 10, 6, 20, 0, tzinfo=UTC), "status", "open"),  # Tuesday 21:00 BST: after hours
    ]
    result = evaluate(created, "high", steps, policy, datetime(2026, 10, 6, 21, 0, tzinfo=UTC))
    assert result.resolution.elapsed == timedelta(minutes=30)
    # 7 h 30 min of working time left: Wednesday is a holiday, Thursday 09:00–16:30 BST = 08:00–15:30 UTC.
    assert result.resolution.due == datetime(2026, 10, 8, 15, 30, tzinfo=UTC)
    assert result.resolution.state == "ok"


def test_business_hours_breach_needs_working_time_past_the_due_instant():
    policy = Policy(targets=POLICY.targets, calendar=OFFICE)
    created = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)  # high: first response due Monday 17:00 BST (16:00 UTC)
    evening = evaluate(created, "high", [], policy, datetime(2026, 10, 5, 20, 0, tzinfo=UTC))
    assert evening.first_response.state == "at_risk" and evening.first_response.breached_at is None
    # Answered before Tuesday opens: met, although the wall clock passed the due instant.
    early = [Step(datetime(2026, 10, 6, 7, 30, tzinfo=UTC), "staff_reply")]
    assert evaluate(created, "high", early, policy, datetime(2026, 10, 6, 9, 0, tzinfo=UTC)).first_response.state == (
        "met"
    )
    late = evaluate(created, "high", [], policy, datetime(2026, 10, 6, 9, 0, tzinfo=UTC))
    assert late.first_response.breached_at == datetime(2026, 10, 5, 16, 0, tzinfo=UTC)


# ----------------------------------------------------------- the same rules through the services and the API


@pytest.fixture
def desk(make_org, make_user):
    org = make_org("Demo", "demo.test")
    customer = make_user("customer", organization=org)
    agent = make_user("agent")
    _, token = create_api_token(agent, "t")
    db.session.commit()
    return {"customer": customer, "agent": agent, "token": token}


def api_sla(client, desk, ticket, now):
    with time_machine.travel(now, tick=False):
        body = client.get(f"/api/v1/tickets/{ticket.reference}", headers={"Authorization": f"Bearer {desk['token']}"})
    assert body.status_code == 200
    return body.json["ticket"]["sla"]


def live(now, call, *args, **kwargs):
    with time_machine.travel(now, tick=False):
        result = call(*args, **kwargs)
        db.session.commit()
        return result


def new_ticket(desk, priority):
    return live(
        T0,
        svc.create_ticket,
        desk["agent"],
        subject="Scope 3 import",
        description="Rows fail.",
        priority=priority,
        requester=desk["customer"],
    )


def test_api_pause_and_resume(client, desk):
    ticket = new_ticket(desk, "medium")
    live(at(hours=1), svc.change_status, desk["agent"], ticket, "pending", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(hours=20))
    assert data["resolution"] == {"state": "paused", "due": None, "achieved_at": None, "breached_at": None}
    assert data["first_response"]["state"] == "breached"  # 4 h passed during the pause: first response never pauses
    assert data["first_response"]["breached_at"] == "2026-10-05T13:00:00Z"
    live(at(hours=30), svc.change_status, desk["agent"], ticket, "open", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(hours=31))
    assert data["resolution"] == {
        "state": "ok",
        "due": "2026-10-07T14:00:00Z",
        "achieved_at": None,
        "breached_at": None,
    }


def test_api_reopen_and_last_solve(client, desk):
    ticket = new_ticket(desk, "medium")
    live(at(hours=1), svc.reply_to_ticket, desk["agent"], ticket, "Fixed.", status="solved")
    assert api_sla(client, desk, ticket, at(hours=2))["resolution"]["state"] == "met"
    live(at(hours=50), svc.reply_to_ticket, desk["customer"], ticket, "Still broken.")  # reopens
    data = api_sla(client, desk, ticket, at(hours=51))
    assert data["resolution"] == {
        "state": "ok",
        "due": "2026-10-08T10:00:00Z",
        "achieved_at": None,
        "breached_at": None,
    }
    live(at(hours=52), svc.change_status, desk["agent"], ticket, "solved", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(hours=60))
    assert data["resolution"]["state"] == "met" and data["resolution"]["achieved_at"] == "2026-10-07T13:00:00Z"
    assert data["first_response"]["achieved_at"] == "2026-10-05T10:00:00Z"


def test_api_raise_past_the_limit_then_lower(client, desk):
    ticket = new_ticket(desk, "low")
    live(at(minutes=20), svc.change_priority, desk["agent"], ticket, "critical", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(minutes=21))
    assert data["first_response"]["state"] == "breached"
    assert data["first_response"]["breached_at"] == "2026-10-05T09:20:00Z"  # at the raise
    assert ticket.first_response_breach_priority == "critical"
    live(at(minutes=30), svc.change_priority, desk["agent"], ticket, "low", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(minutes=31))
    assert data["first_response"]["state"] == "breached" and data["first_response"]["breached_at"].startswith(
        "2026-10-05T09:20:00"
    )


def test_api_raise_after_met_first_response_stays_met(client, desk):
    ticket = new_ticket(desk, "low")
    live(at(minutes=50), svc.reply_to_ticket, desk["agent"], ticket, "On it.")
    live(at(hours=2), svc.change_priority, desk["agent"], ticket, "critical", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(hours=3))
    assert data["first_response"] == {
        "state": "met",
        "due": "2026-10-05T09:15:00Z",  # would have been due at 15 min under the priority now in force
        "achieved_at": "2026-10-05T09:50:00Z",
        "breached_at": None,
    }


def test_api_achieved_exactly_at_the_limit(client, desk):
    ticket = new_ticket(desk, "high")
    live(at(hours=1), svc.reply_to_ticket, desk["agent"], ticket, "Here is the fix.")
    assert api_sla(client, desk, ticket, at(hours=2))["first_response"]["state"] == "met"


def test_api_solved_without_reply(client, desk):
    ticket = new_ticket(desk, "high")
    live(at(minutes=30), svc.change_status, desk["agent"], ticket, "solved", expected_version=ticket.version)
    data = api_sla(client, desk, ticket, at(hours=5))
    assert data["first_response"]["achieved_at"] == data["resolution"]["achieved_at"] == "2026-10-05T09:30:00Z"
    assert ticket.first_response_at is None  # no reply: the team's response times do not count it


def test_breach_between_sweeps_is_recorded_by_the_next_change_at_its_instant(client, desk):
    ticket = new_ticket(desk, "critical")
    # No sweep runs; the agent answers 40 minutes in (first response was due at 15 minutes).
    live(at(minutes=40), svc.reply_to_ticket, desk["agent"], ticket, "Sorry for the wait.")
    rows = {(e.target.value, e.kind.value): e.at for e in db.session.query(SlaEvent).filter_by(ticket_id=ticket.id)}
    assert rows[("first_response", "breached")] == at(minutes=15)  # the deadline, not the moment it was noticed
    assert ticket.first_response_breached_at == at(minutes=15)
    # The sweep afterwards finds nothing new to record for it.
    assert sla_sweep.run_sweep(at(minutes=41))["breached"] == 0


def test_a_breach_the_sweep_has_not_seen_yet_is_shown(client, desk):
    ticket = new_ticket(desk, "critical")
    data = api_sla(client, desk, ticket, at(minutes=16))
    assert data["first_response"]["state"] == "breached" and data["first_response"]["breached_at"] == (
        "2026-10-05T09:15:00Z"
    )
    live(at(minutes=16), lambda: sla_sweep.run_sweep(at(minutes=16)))
    assert ticket.first_response_breached_at == at(minutes=15)
    assert api_sla(client, desk, ticket, at(minutes=16))["first_response"] == data["first_response"]
