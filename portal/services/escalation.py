"""Escalation tiers: L1 → L2 → manager → engineering, each step with a reason from its list (who may take it, and
its validation); the escalation notification; and the time each tier held a ticket (``TierSpan``, an effects step).
The escalation itself is ``tickets.escalate_ticket``; the automatic rules are in ``sla_sweep``."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, Status, Ticket, Tier, TierSpan, User, utcnow
from portal.services import outbox
from portal.services.changes import TicketChange
from portal.services.errors import Forbidden, ValidationFailed

NEXT_TIER = {Tier.l1: Tier.l2, Tier.l2: Tier.manager, Tier.manager: Tier.engineering}
REASONS: dict[Tier, dict[str, str]] = {  # keyed by the tier escalated TO
    Tier.l2: {
        "technical_complexity": "Technical complexity",
        "integration": "Integration",
        "data_corruption": "Data corruption",
        "security": "Security",
    },
    Tier.manager: {
        "sla_at_risk": "SLA at risk",
        "customer_escalation": "Customer escalation",
        "system_wide_issue": "System-wide issue",
        "policy_decision": "Policy decision",
    },
    Tier.engineering: {
        "bug": "Bug",
        "feature_request": "Feature request",
        "infrastructure": "Infrastructure",
        "outage": "Outage",
    },
}
SYSTEM_REASONS = {"sla_breached": "SLA breached (automatic)"}
# Who may escalate from a tier: the people working it and those above.
ESCALATORS = {
    Tier.l1: {Role.agent, Role.senior_agent, Role.manager, Role.admin},
    Tier.l2: {Role.senior_agent, Role.manager, Role.admin},
    Tier.manager: {Role.manager, Role.admin},
}
EXTERNAL_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:#/?=&+-]{0,149}$")


def reason_label(code: str | None) -> str:
    """The label of an escalation reason code (the code itself when unknown, e.g. from an older release)."""
    for labels in (*REASONS.values(), SYSTEM_REASONS):
        if code in labels:
            return labels[code]
    return code or ""


def next_tier(ticket: Ticket) -> Tier | None:
    return NEXT_TIER.get(ticket.tier)


def reasons_for(ticket: Ticket) -> dict[str, str]:
    tier = next_tier(ticket)
    return REASONS.get(tier, {}) if tier else {}


def can_escalate(actor: User | None, ticket: Ticket) -> bool:
    return actor is None or (ticket.tier in ESCALATORS and actor.role in ESCALATORS[ticket.tier])


def check_escalation(
    actor: User | None, ticket: Ticket, to_tier: str | Tier, reason: str, external_ref: str | None
) -> tuple[Tier, str, str | None]:
    """Validate one escalation step; returns (tier, reason label, cleaned external reference)."""
    if not can_escalate(actor, ticket):
        raise Forbidden(
            f"You cannot escalate a ticket held by {ticket.tier.label}.",
            {"to_tier": "Ask someone of this tier or above."},
        )
    try:
        tier = Tier(to_tier)
    except ValueError:
        raise ValidationFailed("Unknown tier.", {"to_tier": "Choose L2, manager or engineering."}) from None
    if tier is not NEXT_TIER.get(ticket.tier):
        expected = NEXT_TIER.get(ticket.tier)
        raise ValidationFailed(
            "Escalate one tier at a time.",
            {
                "to_tier": f"From {ticket.tier.label} the next tier is {expected.label}."
                if expected
                else "Engineering is the last tier."
            },
        )
    labels = dict(REASONS[tier], **(SYSTEM_REASONS if actor is None else {}))
    if reason not in labels:
        raise ValidationFailed(
            "Choose a reason.", {"reason": "Choose one of: " + ", ".join(REASONS[tier].values()) + "."}
        )
    ref = (external_ref or "").strip() or None
    if ref is not None and (tier is not Tier.engineering or not EXTERNAL_REF_RE.match(ref)):
        raise ValidationFailed(
            "Invalid external reference.",
            {
                "external_ref": (
                    "Only an escalation to engineering takes an issue reference (letters, digits, -_.:#/, at most 150)."
                    if tier is Tier.engineering
                    else "Only an escalation to engineering takes an issue reference."
                )
            },
        )
    return tier, labels[reason], ref


def emit_escalation(
    ticket: Ticket, old: Tier, new: Tier, reason: str, actor: User | None, external_ref: str | None
) -> None:
    outbox.emit(
        "notify.escalation",
        {
            "ticket_id": ticket.id,
            "from_tier": old.value,
            "to_tier": new.value,
            "reason": reason,
            "actor_id": actor.id if actor else None,
            "external_ref": external_ref,
        },
    )


# --------------------------------------------------------------------------- tier time


def on_ticket_changed(change: TicketChange) -> None:
    """Tier spans: open one on creation, close and open on a tier change, close when the ticket is closed."""
    ticket = change.ticket
    now = ticket.updated_at or utcnow()
    if change.kind == "created":
        db.session.add(TierSpan(ticket_id=ticket.id, tier=ticket.tier, started_at=ticket.created_at))
        return
    tier, status = change.changed("tier"), change.changed("status")
    if tier is not None:
        _close_span(ticket.id, now)
        reason = change.event.body[:60] if change.kind == "escalation" and change.event is not None else None
        db.session.add(TierSpan(ticket_id=ticket.id, tier=Tier(tier.new), started_at=now, reason=reason))
    if status is not None and status.new == Status.closed.value:
        _close_span(ticket.id, now)


def _close_span(ticket_id: int, now: datetime) -> None:
    for span in db.session.scalars(
        select(TierSpan).where(TierSpan.ticket_id == ticket_id, TierSpan.ended_at.is_(None))
    ):
        span.ended_at = max(now, span.started_at)


def tier_time(ticket: Ticket, now: datetime | None = None) -> list[tuple[Tier, float]]:
    """Seconds each tier held the ticket, in order of first holding (open span counted up to ``now``)."""
    now = now or utcnow()
    totals: dict[Tier, float] = {}
    for span in db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == ticket.id).order_by(TierSpan.id)):
        end = span.ended_at or now
        totals[span.tier] = totals.get(span.tier, 0.0) + max((end - span.started_at).total_seconds(), 0.0)
    return list(totals.items())
