"""The periodic SLA sweep: records the at-risk and breach thresholds tickets have crossed (once each), tells people
through the outbox and applies the automatic escalation rules.

It sits above the ticket services (an automatic escalation is a ticket change like any other); the clock itself,
and what a crossing is, belong to ``portal.services.sla``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Priority, SlaEvent, SlaEventKind, SlaTargetName, StaffStatus, Ticket, Tier, User, utcnow
from portal.services import escalation_batch, outbox, sla
from portal.services.escalation import NEXT_TIER
from portal.services.tickets import escalate_ticket

AT_RISK, BREACHED = SlaEventKind.at_risk, SlaEventKind.breached
AT_RISK_ALERT_PRIORITIES = (Priority.critical, Priority.high)


def run_sweep(now: datetime | None = None, *, batched: bool = True) -> dict[str, int]:
    """Record at-risk and breach events that are due (once each), notify through the outbox and apply the
    escalation rules. Idempotent: running it again at the same ``now`` records and sends nothing new. Flushes; the
    caller (CLI command, job) commits.

    ``batched`` (the default) does it set-based (``portal.services.escalation_batch``); ``batched=False`` runs every
    notification and escalation through the ticket services one at a time: the same rows, the reference the batch
    is tested against."""
    now = now or utcnow()
    return _run_batched(now) if batched else _run_one_at_a_time(now)


def _run_batched(now: datetime) -> dict[str, int]:
    """Batches of due tickets read as rows; per batch: the clocks looked at, then the crossings notified and the rules
    applied ticket by ticket in memory (``escalation_batch``), then everything written in a few statements."""
    stats = {"checked": 0, "at_risk": 0, "breached": 0, "escalated": 0}
    policies: dict = {}
    db.session.flush()  # the caller's pending changes first: the batch reads and writes with statements
    while True:
        rows = escalation_batch.select_due(now)
        if not rows:
            return stats
        rows = escalation_batch.still_current(rows)  # the others changed since: read again in the next round
        if not rows:
            continue
        ids = [r.id for r in rows]
        recorded, history = _recorded_for(ids), sla.histories(ids)
        sla.preload_policies({r.organization_id for r in rows}, policies)
        with outbox.buffered() as buffer:
            batch = escalation_batch.Batch(rows, history, recorded, policies, buffer)
            crossed = []
            for row in rows:
                stats["checked"] += 1
                facts = sla.evaluate(row, now, history[row.id], sla.policy_for(row.organization_id, policies))
                crossings = sla.settle(row, facts, recorded.setdefault(row.id, set()))
                for crossing in crossings:
                    buffer.insert(SlaEvent.__table__, {"ticket_id": row.id, **crossing._asdict()})
                crossed.append((row, [(c.target, c.kind) for c in crossings]))
            batch.preload_spans([row.id for row, facts in crossed if any(k is BREACHED for _t, k in facts)])
            for row, facts in crossed:
                for target, kind in facts:
                    stats["at_risk" if kind is AT_RISK else "breached"] += 1
                    sla.notify_crossing(row, target, kind)
                    stats["escalated"] += apply_sla_rules(row, target, kind, now, escalate=batch.escalate)
            batch.write()


def _run_one_at_a_time(now: datetime) -> dict[str, int]:
    stats = {"checked": 0, "at_risk": 0, "breached": 0, "escalated": 0}
    while True:
        tickets = list(db.session.scalars(sla.due_tickets_query(now)))
        if not tickets:
            return stats
        ids = [t.id for t in tickets]
        recorded, history, policies = _recorded_for(ids), sla.histories(ids), {}
        crossed = []
        for ticket in tickets:
            stats["checked"] += 1
            facts = sla.refresh(
                ticket,
                now,
                notify=False,
                history=history[ticket.id],
                policy=sla.policy_for(ticket.organization_id, policies),
                recorded=recorded.setdefault(ticket.id, set()),
            )
            crossed.append((ticket, facts))
        # The batch's dedupe keys in one query instead of one query (and an autoflush) per outbox row. No autoflush
        # while notifying and escalating: each escalation flushes everything pending before its effects run their
        # queries (tickets._flush), so they see the same rows, and the outbox rows go out in batches.
        keys = [key for ticket, facts in crossed for target, kind in facts for key in _sweep_keys(ticket, target, kind)]
        keep = _preload_for_escalation([ticket for ticket, facts in crossed if any(k is BREACHED for _t, k in facts)])
        with outbox.known_dedupe_keys(keys), db.session.no_autoflush:
            for ticket, facts in crossed:
                for target, kind in facts:
                    stats["at_risk" if kind is AT_RISK else "breached"] += 1
                    sla.notify_crossing(ticket, target, kind)
                    stats["escalated"] += apply_sla_rules(ticket, target, kind, now)
        db.session.flush()
        del keep


def _preload_for_escalation(tickets: list[Ticket]) -> list:
    """The assignees of the tickets a breach may escalate and the staff statuses routing stamps, loaded in two
    queries and held for the batch (else each escalation loads them again one by one)."""
    if not tickets:
        return []
    ids = sorted({t.assignee_id for t in tickets if t.assignee_id is not None})
    users = list(db.session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
    return users + list(db.session.scalars(select(StaffStatus)))


def _sweep_keys(ticket: Ticket, target: SlaTargetName, kind: SlaEventKind) -> list[str]:
    """The dedupe keys the sweep's notifications and rules may emit for one crossed threshold."""
    name = "notify.sla_at_risk" if kind is AT_RISK else "notify.sla_breach"
    return [f"sla:{ticket.id}:{target.value}:{name}", f"sla:{ticket.id}:{target.value}:manager_alert"]


def _recorded_for(ticket_ids: list[int]) -> dict[int, set]:
    result: dict[int, set] = {}
    rows = db.session.execute(
        select(SlaEvent.ticket_id, SlaEvent.target, SlaEvent.kind).where(SlaEvent.ticket_id.in_(ticket_ids))
    ).all()
    for ticket_id, target, kind in rows:
        result.setdefault(ticket_id, set()).add((target, kind))
    return result


def apply_sla_rules(ticket: Ticket, target: SlaTargetName, kind: SlaEventKind, now: datetime, *, escalate=None) -> int:
    """High/critical at risk → the manager is alerted; a breach → escalate one tier (up to manager). Returns the
    number of escalations made. ``escalate(ticket, tier)``: how (the batch's); else ``tickets.escalate_ticket``."""
    if kind is SlaEventKind.at_risk and ticket.priority in AT_RISK_ALERT_PRIORITIES:
        outbox.emit(
            "notify.sla_manager_alert",
            {"ticket_id": ticket.id, "target": target.value, "priority": ticket.priority.value},
            dedupe_key=f"sla:{ticket.id}:{target.value}:manager_alert",
        )
    if kind is SlaEventKind.breached and ticket.tier in (Tier.l1, Tier.l2):
        if escalate is not None:
            escalate(ticket, NEXT_TIER[ticket.tier])
            return 1
        escalate_ticket(
            None, ticket, to_tier=NEXT_TIER[ticket.tier], reason="sla_breached", expected_version=ticket.version
        )
        return 1
    return 0
