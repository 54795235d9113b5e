"""Property: a ticket lived through the services with a controlled clock, and the same history imported, give
identical SLA facts and identical report figures.

Hypothesis draws random histories (replies from staff and customers, notes, status changes with and without a
reply, priority raises and drops, escalations, assignments, satisfaction ratings, gaps from zero to hours). Each
history is lived through the ticket services under ``time_machine``; the sweep looks at the tickets as of the
report's "now"; the facts and the reports are read; the tickets are exported in the import format, every ticket
row is wiped, the lines are imported, and the facts and the reports are read again.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import (
    CsatSurvey,
    NotificationDelivery,
    OutboxMessage,
    SlaEvent,
    Status,
    Ticket,
    TicketEvent,
    TierSpan,
    User,
)
from portal.services import csat, reports, sla, sla_sweep
from portal.services import tickets as svc
from portal.services.errors import ServiceError
from portal.services.escalation import NEXT_TIER, reasons_for
from portal.services.history_export import ticket_lines
from portal.services.history_import import import_lines
from portal.services.reports.periods import Period

T0 = datetime(2026, 10, 5, 8, 0, 0, 250_000, tzinfo=UTC)
PRIORITIES = ("critical", "high", "medium", "low")
STATUSES = ("open", "pending", "on_hold", "solved", "closed")

action = st.tuples(
    st.one_of(st.just(0), st.integers(1, 600), st.integers(600, 3000)),  # minutes since the previous action
    st.sampled_from(
        ["staff_reply", "reply_status", "customer_reply", "note", "status", "priority", "escalate", "assign", "rate"]
    ),
    st.integers(0, 4),  # which value (status, priority, staff member, rating)
    st.integers(0, 999),  # sub-minute offset in milliseconds
)
ticket_history = st.tuples(st.sampled_from(PRIORITIES), st.lists(action, min_size=1, max_size=12))


def _wipe() -> None:
    for model in (NotificationDelivery, OutboxMessage, CsatSurvey, SlaEvent, TierSpan, TicketEvent):
        db.session.execute(delete(model))
    db.session.execute(delete(Ticket))
    db.session.commit()


def _act(desk, ticket: Ticket, kind: str, pick: int) -> None:
    staff = desk["staff"][pick % len(desk["staff"])]
    if kind == "staff_reply":
        svc.reply_to_ticket(staff, ticket, "We are looking into it.")
    elif kind == "reply_status":
        svc.reply_to_ticket(staff, ticket, "Please check.", status=("pending", "solved")[pick % 2])
    elif kind == "customer_reply" and ticket.status is not Status.closed:  # (a closed one would get a follow-up)
        svc.reply_to_ticket(desk["customer"], ticket, "Any news?")
    elif kind == "note":
        svc.reply_to_ticket(staff, ticket, "Internal: checking the logs.", internal=True)
    elif kind == "status":
        svc.change_status(staff, ticket, STATUSES[pick], expected_version=ticket.version)
    elif kind == "priority":
        svc.change_priority(staff, ticket, PRIORITIES[pick % 4], expected_version=ticket.version)
    elif kind == "escalate":
        if ticket.tier in NEXT_TIER:
            reason = next(iter(reasons_for(ticket)))
            svc.escalate_ticket(
                desk["senior"], ticket, to_tier=NEXT_TIER[ticket.tier], reason=reason, expected_version=ticket.version
            )
    elif kind == "assign":
        people = [*desk["staff"], None]
        choice = people[pick % len(people)]
        svc.assign_ticket(staff, ticket, choice.id if choice else None, expected_version=ticket.version)
    elif kind == "rate":
        survey = csat.survey_for_viewer(desk["customer"], ticket)
        if survey is not None and csat.is_open(survey, ticket.updated_at):
            from portal.models import utcnow

            csat.rate(survey, 1 + pick, "Thanks" if pick % 2 else "", utcnow(), "portal")


def _live(desk, histories) -> tuple[list[Ticket], datetime]:
    tickets, last = [], T0
    for priority, actions in histories:
        moment = T0
        with time_machine.travel(moment, tick=False):
            ticket = svc.create_ticket(
                desk["agent"],
                subject="ERP export",
                description="Totals differ.",
                priority=priority,
                requester=desk["customer"],
            )
            db.session.commit()
        for gap, kind, pick, millis in actions:
            moment += timedelta(minutes=gap, milliseconds=millis if gap else 0)
            with time_machine.travel(moment, tick=False):
                try:
                    _act(desk, ticket, kind, pick)
                    db.session.commit()
                except ServiceError:
                    db.session.rollback()
        tickets.append(ticket)
        last = max(last, moment)
    return tickets, last


def _facts(tickets: list[Ticket], now: datetime) -> dict[str, dict]:
    result = {}
    for ticket in tickets:
        columns = {
            f"{t}_{c}": getattr(ticket, f"{t}_{c}")
            for t in ("first_response", "resolution")
            for c in ("achieved_at", "breached_at", "breach_priority", "decided_at")
        }
        result[ticket.external_id or ticket.reference] = {
            "sla": sla.ticket_sla(ticket, now),
            "columns": columns,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
            "tier": ticket.tier.value,
            "assignee": ticket.assignee_id,
            "crossings": sorted(
                (e.target.value, e.kind.value, e.at)
                for e in db.session.scalars(select(SlaEvent).where(SlaEvent.ticket_id == ticket.id))
            ),
        }
    return result


def _figures(now: datetime) -> dict:
    figures = {}
    for name, period in (
        ("month", Period(date(2026, 10, 1), date(2026, 11, 1), "Europe/London")),
        ("day", Period(date(2026, 10, 5), date(2026, 10, 6), "UTC")),
        ("week", Period(date(2026, 10, 5), date(2026, 10, 12), "America/New_York")),
    ):
        summary = reports.summary(period, now)
        summary.pop("generated_at", None)
        figures[name] = {"summary": summary, "agents": reports.agents(period, now)}
    return figures


@pytest.fixture
def desk(make_org, make_user):
    org = make_org("Demo Manufacturing plc", "demo.test")
    customer = make_user("customer", organization=org, email="dana@demo.test", name="Dana Whitfield")
    agent = make_user("agent", email="mike.chen@support.test", name="Mike Chen")
    senior = make_user("senior_agent", email="emily.davis@support.test", name="Emily Davis")
    manager = make_user("manager", email="robert.taylor@support.test", name="Robert Taylor")
    db.session.commit()
    return {"customer": customer.id, "agent": agent.id, "senior": senior.id, "manager": manager.id}


def _people(ids: dict[str, int]) -> dict:
    """The desk's people, loaded afresh in every example (the import clears the session)."""
    people = {name: db.session.get(User, user_id) for name, user_id in ids.items()}
    people["staff"] = [people["agent"], people["senior"], people["manager"]]
    return people


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=st.lists(ticket_history, min_size=1, max_size=3))
def test_a_lived_history_and_the_same_history_imported_agree(desk, histories):
    _wipe()
    desk = _people(desk)
    tickets, last = _live(desk, histories)
    now = last + timedelta(days=2, seconds=1)
    with time_machine.travel(now, tick=False):  # the every-minute sweep has looked (and escalated) by now
        sla_sweep.run_sweep(now)
        db.session.commit()
    lived_facts = _facts(tickets, now)
    lived_figures = _figures(now)
    lines = [json.dumps(line) for line in ticket_lines(tickets)]

    _wipe()
    result = import_lines(lines, now=now, index=False)
    assert result.errors == [] and result.imported == len(tickets)
    imported = list(db.session.scalars(select(Ticket).where(Ticket.id.in_(result.imported_ids))))
    assert _facts(imported, now) == lived_facts
    assert _figures(now) == lived_figures
