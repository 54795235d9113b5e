"""Notification handlers (outbox kinds ``notify.*``): decide recipients, honour preferences, render, send once.

Payloads: ticket_reply {ticket_id, event_id, actor_id}; ticket_status {ticket_id, old, new, actor_id}; assignment
{ticket_id, assignee_id, actor_id}; sla_at_risk / sla_breach {ticket_id, target, due_at}; escalation {ticket_id,
from_tier, to_tier, reason, actor_id, external_ref}; handover_summary {shift, from_shift, reassigned, flagged};
critical_alert {ticket_id, user_ids} (Slack + the on-shift L2); sla_manager_alert {ticket_id, target, priority}.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template, url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, Role, Ticket, TicketEvent, User
from portal.services import routing
from portal.services.escalation import reason_label
from portal.services.mail import outgoing
from portal.services.notifications import wants_email
from workers import senders
from workers.registry import handler
from workers.runner import PermanentFailure

# --------------------------------------------------------------------------- helpers


def _ticket(payload: dict[str, Any]) -> Ticket:
    ticket = db.session.get(Ticket, int(payload["ticket_id"]))
    if ticket is None:
        raise PermanentFailure(f"ticket {payload.get('ticket_id')} does not exist")
    return ticket


def _user(user_id: Any) -> User | None:
    return db.session.get(User, int(user_id)) if user_id else None


def _managers() -> list[User]:
    return [
        u for u in db.session.scalars(select(User).where(User.role == Role.manager).order_by(User.id)) if u.is_active
    ]


def _ticket_url(ticket: Ticket, user: User) -> str:
    endpoint = "agent.ticket" if user.is_staff else "customer.ticket"
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(endpoint, reference=ticket.reference, _external=True)


def _local(when: datetime | None, user: User) -> str:
    if when is None:
        return "—"
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(user.timezone or "UTC")
    except Exception:
        zone = UTC
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _email(
    message_id: int,
    kind: str,
    user: User | outgoing.Recipient,
    template: str,
    subject: str,
    ticket: Ticket | None = None,
    **context: Any,
) -> bool:
    """Render ``email/<template>.txt|.html`` for ``user`` and send it once for this outbox row. A mail about a ticket
    carries what makes a reply by email thread back (``portal.services.mail.outgoing``): the recipient's signed
    token in the Message-ID and the body, the thread's References, Reply-To, List-Unsubscribe."""
    domain = senders.mail_domain()
    digest = hashlib.sha1(user.email.lower().encode()).hexdigest()[:10]
    mid = f"<{kind.replace('.', '-')}.{message_id}.{digest}@{domain}>"
    thread = senders.ticket_thread_id(ticket.reference) if ticket is not None else None
    mail = None
    if ticket is not None:
        mail = outgoing.ticket_mail(ticket, user, kind=kind, outbox_id=message_id, domain=domain, thread_root=thread)
        mid = mail.message_id
        subject = f"[{ticket.reference}] {subject}"
        if outgoing.may_open(user, ticket):
            context.setdefault("ticket_url", _ticket_url(ticket, user))
        for key, value in mail.context.items():
            context.setdefault(key, value)
    context.update(user=user, ticket=ticket, local=lambda when: _local(when, user))
    event = context.get("event")

    def send(claim: senders.Claim) -> str:
        # the Message-ID stored at the first claim (the same deterministic value): a retry of an uncertain send
        # carries it again, so the recipient's mail client shows the message once
        sent_id = claim.message_id or mid
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
        extra = mail.build_kwargs() if mail is not None else {"thread_id": thread}
        if mail is not None:  # before the send: a reply quoting only our References must find the ticket
            outgoing.record_sent(sent_id, ticket.id, user.id, event.id if isinstance(event, TicketEvent) else None)
        return senders.send_email(senders.build_email(user.email, subject, text, html, message_id=sent_id, **extra))

    return senders.deliver(message_id, "email", user.email, send, message_id=mid)


def _email_each(message_id: int, kind: str, users: Iterable[User | None], preference: str, **kwargs: Any) -> int:
    seen: set[int] = set()
    sent = 0
    for user in users:
        if user is None or user.id in seen or not wants_email(user, preference):
            continue
        seen.add(user.id)
        sent += _email(message_id, kind, user, **kwargs)
    return sent


def _slack(message_id: int, text: str, link: tuple[str, str] | None = None) -> bool:
    """Post ``text`` (escaped here) with an optional (url, label) link, once for this outbox row."""
    if not senders.slack_configured():
        return False
    body = senders.slack_escape(text)
    if link:
        body += f" <{link[0]}|{senders.slack_escape(link[1])}>"
    return senders.deliver(
        message_id,
        "slack",
        "team",
        lambda claim: senders.post_slack(body, idempotency_key=claim.idempotency_key),
    )


def _staff_url(ticket: Ticket) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("agent.ticket", reference=ticket.reference, _external=True)


# --------------------------------------------------------------------------- ticket changes


@handler("notify.ticket_reply")
def ticket_reply(payload: dict[str, Any], message_id: int) -> None:
    """A public reply → the requester and the ticket's participants (with or without an account), once each,
    never its author. The reply's files are linked, never attached."""
    ticket = _ticket(payload)
    event = db.session.get(TicketEvent, int(payload["event_id"]))
    if event is None or not event.kind.is_public:
        return  # never mail an internal note
    author = _user(payload.get("actor_id"))
    mail = dict(
        template="ticket_reply",
        subject=f"New reply: {ticket.subject}",
        ticket=ticket,
        event=event,
        author=author,
        files=outgoing.attachment_links(event),
    )
    if ticket.requester_id != payload.get("actor_id"):
        _email_each(message_id, "notify.ticket_reply", [ticket.requester], "email_ticket_updates", **mail)
    skip = [author.email if author else "", ticket.requester.email]
    for recipient in outgoing.participant_recipients(ticket, exclude=skip):
        if outgoing.wants_ticket_mail(recipient, "email_ticket_updates"):
            _email(message_id, "notify.ticket_reply", recipient, participant=True, **mail)


@handler("notify.ticket_status")
def ticket_status(payload: dict[str, Any], message_id: int) -> None:
    ticket = _ticket(payload)
    _email_each(
        message_id,
        "notify.ticket_status",
        [ticket.requester],
        "email_ticket_updates",
        template="ticket_status",
        subject=f"Status {payload.get('new')}: {ticket.subject}",
        ticket=ticket,
        old=payload.get("old"),
        new=payload.get("new"),
    )


@handler("notify.assignment")
def assignment(payload: dict[str, Any], message_id: int) -> None:
    ticket = _ticket(payload)
    if ticket.assignee_id != payload.get("assignee_id"):
        return  # reassigned before this ran: the newer assignment has its own message
    _email_each(
        message_id,
        "notify.assignment",
        [ticket.assignee],
        "email_assignments",
        template="assignment",
        subject=f"Assigned to you: {ticket.subject}",
        ticket=ticket,
        actor=_user(payload.get("actor_id")),
    )


# --------------------------------------------------------------------------- SLA and escalation


def _sla(payload: dict[str, Any], message_id: int, kind: str, breached: bool) -> None:
    ticket = _ticket(payload)
    due = payload.get("due_at")
    due_at = datetime.fromisoformat(due) if due else None
    target = str(payload.get("target", "resolution")).replace("_", " ")
    label = "SLA breached" if breached else "SLA at risk"
    _email_each(
        message_id,
        kind,
        [ticket.assignee, *_managers()],
        "email_sla_alerts",
        template="sla_alert",
        subject=f"{label} ({target}): {ticket.subject}",
        ticket=ticket,
        breached=breached,
        target=target,
        due_at=due_at,
    )
    if breached:
        _slack(
            message_id,
            f"SLA breached: {ticket.reference} {ticket.subject} ({ticket.priority.value}, {target} target)",
            (_staff_url(ticket), ticket.reference),
        )


@handler("notify.sla_at_risk")
def sla_at_risk(payload: dict[str, Any], message_id: int) -> None:
    _sla(payload, message_id, "notify.sla_at_risk", breached=False)


@handler("notify.sla_breach")
def sla_breach(payload: dict[str, Any], message_id: int) -> None:
    _sla(payload, message_id, "notify.sla_breach", breached=True)


@handler("notify.sla_manager_alert")
def sla_manager_alert(payload: dict[str, Any], message_id: int) -> None:
    """High/critical at risk → the managers. They already hear of it when the at-risk warning itself was emitted
    (``notify.sla_at_risk`` goes to assignee and managers), so this only mails when that row does not exist."""
    target = str(payload.get("target", "resolution"))
    at_risk = db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key == f"sla:{payload.get('ticket_id')}:{target}:notify.sla_at_risk"
        )
    )
    if at_risk is not None:
        return
    ticket = _ticket(payload)
    _email_each(
        message_id,
        "notify.sla_manager_alert",
        _managers(),
        "email_sla_alerts",
        template="sla_alert",
        subject=f"SLA at risk ({target.replace('_', ' ')}): {ticket.subject}",
        ticket=ticket,
        breached=False,
        target=target.replace("_", " "),
        due_at=None,
    )


@handler("notify.escalation")
def escalation(payload: dict[str, Any], message_id: int) -> None:
    ticket = _ticket(payload)
    context = {k: payload.get(k) for k in ("from_tier", "to_tier", "external_ref")}
    context["reason"] = reason_label(payload.get("reason"))
    _email_each(
        message_id,
        "notify.escalation",
        [ticket.assignee, *_managers()],
        "email_escalations",
        template="escalation",
        subject=f"Escalated to {context['to_tier']}: {ticket.subject}",
        ticket=ticket,
        actor=_user(payload.get("actor_id")),
        **context,
    )
    _slack(
        message_id,
        f"Escalated {context['from_tier']} → {context['to_tier']}: {ticket.reference} "
        f"{ticket.subject} (reason: {context['reason']})",
        (_staff_url(ticket), ticket.reference),
    )


# --------------------------------------------------------------------------- shifts and critical tickets


def _shift_staff(shift: str) -> list[User]:
    wanted = str(shift or "").lower()
    rows = db.session.scalars(
        select(User).where(User.role.in_([Role.agent, Role.senior_agent, Role.manager])).order_by(User.id)
    )
    return [u for u in rows if u.is_active and u.shift_region and u.shift_region.value.lower() == wanted]


@handler("notify.handover_summary")
def handover_summary(payload: dict[str, Any], message_id: int) -> None:
    reassigned = {int(t): int(u) for t, u in (payload.get("reassigned") or {}).items()}
    flagged = [int(t) for t in payload.get("flagged") or []]
    tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_([*reassigned, *flagged])))}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(set(reassigned.values()))))}
    rows = [(tickets[t], users.get(u)) for t, u in reassigned.items() if t in tickets and t not in flagged]
    _email_each(
        message_id,
        "notify.handover_summary",
        _shift_staff(payload.get("shift")),
        "email_handover",
        template="handover_summary",
        subject=f"Shift hand-over: {payload.get('from_shift')} → {payload.get('shift')}",
        shift=payload.get("shift"),
        from_shift=payload.get("from_shift"),
        reassigned=rows,
        flagged=[tickets[t] for t in flagged if t in tickets],
    )


def _critical_slack(ticket: Ticket, message_id: int) -> bool:
    return _slack(
        message_id,
        f"Critical ticket {ticket.reference}: {ticket.subject} "
        f"({ticket.requester.organization.name if ticket.requester.organization else 'no org'})",
        (_staff_url(ticket), ticket.reference),
    )


@handler("notify.slack_critical")
def slack_critical(payload: dict[str, Any], message_id: int) -> None:
    """Rows of this kind queued by earlier versions (critical alerts are now one ``notify.critical_alert`` row)."""
    _critical_slack(_ticket(payload), message_id)


@handler("notify.critical_alert")
def critical_alert(payload: dict[str, Any], message_id: int) -> None:
    """A ticket filed as (or raised to) critical: page the senior agents on shift by email and post to Slack."""
    ticket = _ticket(payload)
    if payload.get("user_ids") is not None:  # who was on shift when the ticket became critical
        on_shift = [u for u in (_user(i) for i in payload["user_ids"]) if u is not None and u.is_active]
    else:
        on_shift = routing.on_shift_staff(Role.senior_agent, datetime.now(UTC))
    for user in on_shift:  # an alert for a critical ticket is not optional
        _email(
            message_id, "notify.critical_alert", user, "critical_alert", f"CRITICAL: {ticket.subject}", ticket=ticket
        )
    _critical_slack(ticket, message_id)
