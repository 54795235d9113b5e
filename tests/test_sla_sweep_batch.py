"""The set-based SLA sweep against the one-at-a-time path: one scenario swept both ways (each in a transaction rolled
back afterwards, the clock frozen) must leave the same rows — tickets, ticket events, SLA events, outbox rows,
webhook deliveries, tier spans, assignment instants, queue counters. Plus: a second sweep sends nothing, and a ticket
someone else changed between the sweep's read and its write is never overwritten."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import (
    OutboxMessage,
    ShiftRegion,
    SlaCheck,
    SlaEvent,
    StaffStatus,
    Ticket,
    TicketEvent,
    TierSpan,
)
from portal.models.webhooks import WebhookDelivery, WebhookSubscription
from portal.services import escalation_batch, sla_sweep
from portal.services import tickets as svc
from portal.services.errors import Conflict

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # EMEA shift (08–16 UTC)
SWEEP_AT = T0 + timedelta(hours=5)
CLOCK = SWEEP_AT + timedelta(minutes=70)  # the sweep runs late: escalations look at the clock 70 minutes on


@pytest.fixture
def scenario(make_org, make_user):
    """Twelve tickets of every priority filed at T0 on an EMEA desk with two agents, three senior agents (one a data
    specialist, one already busy) and two managers; a webhook subscription to every SLA and ticket event."""
    with time_machine.travel(T0, tick=False):
        org = make_org("Acme", "acme.test")
        customer = make_user("customer", organization=org)
        emea = {"shift_region": ShiftRegion.emea}
        agents = [make_user("agent", **emea) for _ in range(2)]
        seniors = [make_user("senior_agent", specializations=["data"], **emea)]
        seniors += [make_user("senior_agent", **emea) for _ in range(2)]
        managers = [make_user("manager", **emea) for _ in range(2)]
        db.session.add(
            WebhookSubscription(
                url="https://hooks.example.test/sla",
                secret="s3cret",
                events=["sla.at_risk", "sla.breached", "ticket.updated"],
            )
        )
        db.session.commit()
        tickets = []
        for i, (priority, category) in enumerate(
            [
                ("critical", "data"),
                ("critical", "technical"),
                ("high", "data"),
                ("high", "technical"),
                ("high", "account"),
                ("medium", "data"),
                ("medium", "technical"),
                ("medium", "account"),
                ("medium", "data"),
                ("low", "technical"),
                ("high", "integration"),  # routed to L2 at filing
                ("medium", "technical"),
            ]
        ):
            ticket = svc.create_ticket(
                agents[i % 2],
                subject=f"Problem {i}",
                description="It breaks.",
                category=category,
                priority=priority,
                requester=customer,
            )
            tickets.append(ticket)
        busy = seniors[1]
        for ticket in tickets[9:]:  # the second senior already holds some open tickets
            svc.assign_ticket(managers[0], ticket, busy.id, expected_version=ticket.version)
        db.session.commit()
    return {
        "agent": agents[0].id,
        "customer": customer.id,
        "tickets": [t.id for t in tickets],
        "seniors": [u.id for u in seniors],
        "managers": [u.id for u in managers],
    }


def _snapshot() -> dict:
    """Every row the sweep may write, ids left out (rows in id order), webhook delivery ids as their position."""
    deliveries = db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars().all()
    position = {d.uuid: n for n, d in enumerate(deliveries)}

    def rows(model, *, skip=("id",)):
        table = model.__table__
        pk = list(table.primary_key.columns)
        out = []
        for row in db.session.execute(select(table).order_by(*pk)).mappings():
            values = {k: v for k, v in row.items() if k not in skip}
            if model is OutboxMessage and "delivery" in (values["payload"] or {}):
                values["payload"] = dict(values["payload"], delivery=position[values["payload"]["delivery"]])
            if model is WebhookDelivery:
                values["payload"] = dict(values["payload"], id=position[values["uuid"]])
                values["uuid"] = position[values["uuid"]]
            out.append(values)
        return out

    counters = db.session.execute(
        text("SELECT key, SUM(delta) FROM queue_counter_deltas GROUP BY key ORDER BY key")
    ).all()
    return {
        "tickets": rows(Ticket, skip=()),
        "sla_checks": rows(SlaCheck, skip=()),
        "ticket_events": rows(TicketEvent),
        "sla_events": rows(SlaEvent),
        "outbox": rows(OutboxMessage),
        "deliveries": rows(WebhookDelivery),
        "tier_spans": rows(TierSpan),
        "staff_status": rows(StaffStatus, skip=()),
        "counters": [tuple(c) for c in counters],
    }


def _swept(batched: bool) -> tuple[dict, dict]:
    """Sweep at SWEEP_AT with the clock frozen at CLOCK; the rows it left; then rolled back."""
    with time_machine.travel(CLOCK, tick=False):
        stats = sla_sweep.run_sweep(SWEEP_AT, batched=batched)
        db.session.flush()
        snapshot = _snapshot()
    db.session.rollback()
    return stats, snapshot


def _assert_same(expected: dict, got: dict) -> None:
    for table in expected:
        assert len(got[table]) == len(expected[table]), table
        for n, (want, have) in enumerate(zip(expected[table], got[table], strict=True)):
            assert have == want, f"{table} row {n}"


@pytest.mark.parametrize("array_rows", [None, 1], ids=["default", "every-group-from-arrays"])
def test_batched_sweep_writes_exactly_the_rows_of_the_one_at_a_time_path(scenario, monkeypatch, array_rows):
    """``every-group-from-arrays``: on PostgreSQL every group of tickets written alike goes through the one UPDATE
    … FROM unnest(arrays) that large groups use (the scenario's groups are below the threshold)."""
    if array_rows is not None:
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the array UPDATE is PostgreSQL's")
        monkeypatch.setattr(escalation_batch, "ARRAY_UPDATE_ROWS", array_rows)
    before = _snapshot()
    one_stats, one = _swept(batched=False)
    assert _snapshot() == before  # rolled back
    batch_stats, batch = _swept(batched=True)
    assert batch_stats == one_stats
    # the scenario exercises what it must: double escalations, load-aware routing, webhooks, manager alerts, and
    # crossings recorded by the escalation's own look at the (later) clock
    assert one_stats["escalated"] >= 10 and one_stats["escalated"] > one_stats["breached"] // 2
    events = one["ticket_events"][len(before["ticket_events"]) :]
    tiers = [(e["old_value"], e["new_value"]) for e in events if e["field"] == "tier"]
    assert ("L1", "L2") in tiers and ("L2", "manager") in tiers
    assigned = [e["new_user_id"] for e in events if e["field"] == "assignee"]
    assert set(scenario["seniors"]) <= set(assigned) and set(assigned) & set(scenario["managers"])
    kinds = {o["kind"] for o in one["outbox"][len(before["outbox"]) :]}
    assert {"notify.sla_breach", "notify.sla_at_risk", "notify.sla_manager_alert", "notify.escalation"} <= kinds
    assert {"notify.assignment", "index.ticket", "webhook.deliver"} <= kinds
    assert len(one["deliveries"]) > len(before["deliveries"])
    assert any(e["at"] > SWEEP_AT for e in one["sla_events"])  # recorded at the escalations' instant
    _assert_same(one, batch)


def test_the_comparison_catches_a_missing_step(scenario, monkeypatch):
    """The check above is not vacuous: a batch that forgets one step (here the tier spans) differs."""
    _stats, one = _swept(batched=False)
    monkeypatch.setattr(escalation_batch.Batch, "_tier_spans", lambda self, *args: None)
    _stats, batch = _swept(batched=True)
    assert batch["tier_spans"] != one["tier_spans"]
    assert {k: v for k, v in batch.items() if k != "tier_spans"} == {k: v for k, v in one.items() if k != "tier_spans"}


def test_a_second_sweep_at_the_same_instant_records_and_sends_nothing(scenario):
    with time_machine.travel(CLOCK, tick=False):
        first = sla_sweep.run_sweep(SWEEP_AT)
        db.session.commit()
        after = _snapshot()
        again = sla_sweep.run_sweep(SWEEP_AT)
        db.session.commit()
    assert first["escalated"] > 0
    assert again == {"checked": 0, "at_risk": 0, "breached": 0, "escalated": 0}
    assert _snapshot() == after
    keys = [o["dedupe_key"] for o in after["outbox"] if o["dedupe_key"]]
    assert len(keys) == len(set(keys))


def _other_writer(ticket_id: int) -> None:
    """Someone else's change, committed on its own connection: the ticket escalated to L2 by hand (version + 1)."""
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE tickets SET tier = 'L2', subject = 'Changed elsewhere', version = version + 1 WHERE id = :id"),
            {"id": ticket_id},
        )


def test_a_ticket_changed_after_the_read_is_read_again_not_overwritten(scenario, monkeypatch):
    target = scenario["tickets"][5]  # medium, L1: its first response breaches by SWEEP_AT
    version = db.session.get(Ticket, target).version
    db.session.commit()
    select_due, changed = escalation_batch.select_due, []

    def racing_select(now):
        rows = select_due(now)
        if not changed and any(r.id == target for r in rows):
            _other_writer(target)  # between the sweep's read and its write
            changed.append(target)
        return rows

    monkeypatch.setattr(escalation_batch, "select_due", racing_select)
    with time_machine.travel(CLOCK, tick=False):
        stats = sla_sweep.run_sweep(SWEEP_AT)
        db.session.commit()
    assert changed == [target]
    ticket = db.session.get(Ticket, target)
    # the other writer's change stands; the sweep read the ticket again and escalated it from there (L2 → manager)
    assert ticket.subject == "Changed elsewhere"
    assert ticket.tier.value == "manager" and ticket.version == version + 2
    tier_events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == target, TicketEvent.field == "tier")
    ).all()
    assert [(e.old_value, e.new_value, e.ticket_version) for e in tier_events] == [("L2", "manager", version + 2)]
    crossings = db.session.execute(select(SlaEvent.target, SlaEvent.kind).where(SlaEvent.ticket_id == target)).all()
    assert len(crossings) == len(set(crossings))
    breach_rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"sla:{target}:%:notify.sla_breach"))
    ).all()
    assert len(breach_rows) == len({r.dedupe_key for r in breach_rows}) >= 1
    assert stats["escalated"] > 1


def test_a_ticket_changed_in_the_instant_before_the_write_raises_conflict_and_keeps_the_other_change(
    scenario, monkeypatch
):
    target = scenario["tickets"][5]
    db.session.commit()
    still_current = escalation_batch.still_current

    def racing_check(rows):
        current = still_current(rows)
        if any(r.id == target for r in current) and db.session.get_bind().dialect.name != "postgresql":
            _other_writer(target)  # after the check (on PostgreSQL the check's row locks make this wait)
        return current

    if db.engine.dialect.name == "postgresql":
        pytest.skip("the version check locks the rows on PostgreSQL: the other writer would wait for the sweep")
    monkeypatch.setattr(escalation_batch, "still_current", racing_check)
    with time_machine.travel(CLOCK, tick=False), pytest.raises(Conflict):
        sla_sweep.run_sweep(SWEEP_AT)
    db.session.rollback()
    ticket = db.session.get(Ticket, target)
    assert ticket.subject == "Changed elsewhere" and ticket.tier.value == "L2"
    assert db.session.scalar(select(SlaEvent.id).where(SlaEvent.ticket_id == target)) is None


@pytest.fixture
def at_risk_only(scenario):
    """A low-priority ticket filed 14 hours before T0: by SWEEP_AT its first response (24 hours) is at risk (at 75%),
    nothing else crossed. The sweep's crossing changes nothing of the ticket but its next check."""
    from portal.models import User

    with time_machine.travel(T0 - timedelta(hours=14), tick=False):
        ticket = svc.create_ticket(
            db.session.get(User, scenario["agent"]),
            subject="Slow question",
            description="No hurry.",
            category="account",
            priority="low",
            requester=db.session.get(User, scenario["customer"]),
        )
        db.session.commit()
    return ticket.id


def _check_only_rows() -> list[int]:
    """The tickets whose only change in a batched sweep at SWEEP_AT is their next check (an at-risk crossing: the
    check moves on to the breach instant), found by a sweep rolled back."""
    found, write = [], escalation_batch.Batch.write

    def spying_write(batch):
        found.extend(r.id for r in batch.rows if r.check_changed and not r.changed_values())
        return write(batch)

    with time_machine.travel(CLOCK, tick=False):
        escalation_batch.Batch.write = spying_write
        try:
            sla_sweep.run_sweep(SWEEP_AT)
        finally:
            escalation_batch.Batch.write = write
    db.session.rollback()
    return found


def test_a_crossing_that_moves_only_the_check_leaves_the_ticket_row_alone(at_risk_only):
    """An at-risk crossing writes the next check (``sla_checks``), not the ticket: same version, same columns."""
    ids = _check_only_rows()
    assert at_risk_only in ids
    before = {t["id"]: t for t in _snapshot()["tickets"] if t["id"] in ids}
    checks = dict(db.session.execute(select(SlaCheck.ticket_id, SlaCheck.check_at)).all())
    with time_machine.travel(CLOCK, tick=False):
        sla_sweep.run_sweep(SWEEP_AT)
        db.session.commit()
    after = {t["id"]: t for t in _snapshot()["tickets"] if t["id"] in ids}
    assert after == before
    for ticket_id in ids:
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.sla_check_at is not None and ticket.sla_check_at > checks[ticket_id]
        kinds = db.session.scalars(select(SlaEvent.kind).where(SlaEvent.ticket_id == ticket_id)).all()
        assert [k.value for k in kinds] == ["at_risk"]


def test_a_check_only_ticket_changed_before_the_write_raises_conflict(at_risk_only, monkeypatch):
    """The next check is written on the same condition as the ticket: the version read still stands."""
    if db.engine.dialect.name == "postgresql":
        pytest.skip("the version check locks the rows on PostgreSQL: the other writer would wait for the sweep")
    target = at_risk_only
    assert target in _check_only_rows()
    check = db.session.get(Ticket, target).sla_check_at
    db.session.commit()
    still_current = escalation_batch.still_current

    def racing_check(rows):
        current = still_current(rows)
        if any(r.id == target for r in current):
            _other_writer(target)
        return current

    monkeypatch.setattr(escalation_batch, "still_current", racing_check)
    with time_machine.travel(CLOCK, tick=False), pytest.raises(Conflict):
        sla_sweep.run_sweep(SWEEP_AT)
    db.session.rollback()
    ticket = db.session.get(Ticket, target)
    assert ticket.subject == "Changed elsewhere" and ticket.sla_check_at == check
