"""Phone support: telephone numbers in one form (E.164), finding the caller behind a number or an address, and
logging a call against a ticket (through the ticket service, like any other channel).

Numbers are stored and compared as E.164 (``+441234567890``). The normalizer is deliberately small: it reads the
international form people actually type (``+44 20 7946 0000``, ``+1 (555) 010-2030``, ``0044 20 7946 0000``,
``+44 (0)20 7946 0000``) and refuses anything it would have to guess at, such as a national number without its
country code."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Channel, Status, Ticket, User, utcnow
from portal.models.phone import CallDirection, CallOutcome, PhoneCall
from portal.services import tickets as ticket_service
from portal.services.errors import Forbidden, ValidationFailed

E164_MAX_DIGITS = 15  # ITU-T E.164: country code and subscriber number together
E164_MIN_DIGITS = 7  # the shortest in use: Niue, +683 and four digits
# What may separate the digit groups: spaces (including no-break and thin), dots, dashes of every kind, slashes.
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212/]+")
# The UK/European habit of writing the national trunk prefix after the country code: "+44 (0)20 ...".
_TRUNK_ZERO = re.compile(r"^(\+[0-9]{1,3})\(0\)")
_E164 = re.compile(rf"\+[1-9][0-9]{{{E164_MIN_DIGITS - 1},{E164_MAX_DIGITS - 1}}}")


def normalize_number(text: str | None) -> str | None:
    """The number in E.164 form (``+`` and ASCII digits), or None when ``text`` is not an international number.

    Accepted: a leading ``+`` (or the ``00`` international prefix, or a ``tel:`` URI) followed by digits grouped
    with spaces, dots, dashes, slashes or balanced parentheses, and an optional ``(0)`` trunk prefix after the
    country code. Refused: letters, extensions, a national number without a country code, fewer than 7 or more
    than 15 digits, a country code starting with 0, and digits of other scripts."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value.lower().startswith("tel:"):
        value = value[4:]
    value = _SEPARATORS.sub("", value)
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        return None
    value = _TRUNK_ZERO.sub(r"\1", value)
    # Parentheses group digits ("+1 (555) 010-2030"): each opened one must close, none may nest.
    depth = 0
    digits = []
    for ch in value[1:]:
        if ch == "(":
            depth += 1
            if depth > 1:
                return None
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif "0" <= ch <= "9":
            digits.append(ch)
        else:
            return None
    if depth != 0:
        return None
    number = "+" + "".join(digits)
    return number if _E164.fullmatch(number) else None


def looks_like_email(text: str) -> bool:
    return "@" in text


def find_callers(number_or_email: str | None) -> list[User]:
    """Everyone who could be behind a call: the active accounts with this phone number (E.164 after
    normalization), or with this email address (case-insensitive). A number may be shared (a switchboard, a
    family), so every match is returned, customers first, then by name. Empty when the input is neither."""
    if not isinstance(number_or_email, str):
        return []
    text = number_or_email.strip()
    if not text:
        return []
    if looks_like_email(text):
        condition = func.lower(User.email) == text.lower()
    else:
        number = normalize_number(text)
        if number is None:
            return []
        condition = User.phone == number
    users = db.session.scalars(select(User).where(condition).order_by(User.name, User.id)).all()
    active = [user for user in users if user.is_active]
    return sorted(active, key=lambda user: (not user.is_customer, user.name.lower(), user.id))


# --------------------------------------------------------------------------- logging a call

DURATION_MAX_SECONDS = 24 * 3600
SUMMARY_MAX = 5_000
NOTES_MAX = 10_000
# Outcomes in which nobody spoke with the customer: such a call cannot count as a contact.
UNREACHED_OUTCOMES = frozenset(
    {CallOutcome.voicemail, CallOutcome.no_answer, CallOutcome.busy, CallOutcome.wrong_number}
)
_CLOCK = re.compile(r"(?:([0-9]{1,2}):)?([0-9]{1,3}):([0-5][0-9])")
_MINUTES = re.compile(r"([0-9]{1,4})(?:[.,]([0-9]{1,2}))?\s*(?:m|min|mins|minutes?)?", re.IGNORECASE)
BAD_NUMBER = "Enter the number in international form, e.g. +44 20 7946 0000."


def parse_duration(text: str | None) -> int | None:
    """Seconds from ``"4:05"`` (mm:ss), ``"1:02:30"`` (h:mm:ss) or minutes (``"5"``, ``"2.5"``, ``"5 min"``);
    0 for an empty field. Raises ValueError with the message to show (negative, too long, unreadable)."""
    value = (text or "").strip()
    if not value:
        return 0
    if value.startswith(("-", "\u2212")):
        raise ValueError("The duration cannot be negative.")
    clock = _CLOCK.fullmatch(value)
    if clock:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        total = hours * 3600 + minutes * 60 + seconds
    else:
        minutes_match = _MINUTES.fullmatch(value)
        if not minutes_match:
            raise ValueError("Enter the duration as mm:ss (4:05) or in minutes (5).")
        whole, fraction = minutes_match.groups()
        total = int(whole) * 60 + (round(int(fraction) * 60 / 10 ** len(fraction)) if fraction else 0)
    if total > DURATION_MAX_SECONDS:
        raise ValueError("A call lasts at most 24 hours.")
    return total


def format_duration(seconds: int) -> str:
    minutes, secs = divmod(max(seconds, 0), 60)
    return f"{minutes}:{secs:02d}"


def open_tickets_of(caller: User, limit: int = 20) -> list[Ticket]:
    """The caller's tickets a call may be added to (not closed), most recently changed first."""
    stmt = (
        select(Ticket)
        .where(Ticket.requester_id == caller.id, Ticket.status != Status.closed)
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def calls_for_ticket(ticket: Ticket) -> list[PhoneCall]:
    stmt = (
        select(PhoneCall)
        .where(PhoneCall.ticket_id == ticket.id)
        .options(selectinload(PhoneCall.agent), selectinload(PhoneCall.caller))
        .order_by(PhoneCall.id.desc())
    )
    return list(db.session.scalars(stmt))


def recent_calls(
    actor: User, *, agent_id: int | None = None, outcome: CallOutcome | None = None, offset: int = 0, limit: int = 50
) -> list[PhoneCall]:
    """The latest calls, newest first, optionally of one agent or with one outcome (staff only)."""
    if not actor.is_staff:
        raise Forbidden("Only staff can see calls.")
    stmt = select(PhoneCall).options(
        selectinload(PhoneCall.agent), selectinload(PhoneCall.caller), selectinload(PhoneCall.ticket)
    )
    if agent_id is not None:
        stmt = stmt.where(PhoneCall.agent_id == agent_id)
    if outcome is not None:
        stmt = stmt.where(PhoneCall.outcome == outcome)
    stmt = stmt.order_by(PhoneCall.created_at.desc(), PhoneCall.id.desc()).offset(offset).limit(limit)
    return list(db.session.scalars(stmt))


def _public_body(agent: User, direction: CallDirection, seconds: int, summary: str) -> str:
    who = "You called us" if direction is CallDirection.inbound else "We called you"
    return f"Phone call with {agent.name} ({who}, {format_duration(seconds)}).\n\n{summary}"


def _internal_body(direction: CallDirection, number: str, outcome: CallOutcome, seconds: int, text: str) -> str:
    towards = "from" if direction is CallDirection.inbound else "to"
    line = f"Phone call {towards} {number or 'the customer'}: {outcome.label.lower()}, {format_duration(seconds)}."
    return f"{line}\n\n{text}".strip()


def log_call(
    actor: User,
    *,
    caller: User | None,
    ticket: Ticket | None = None,
    subject: str = "",
    priority: str = "medium",
    direction: str = "",
    number: str = "",
    duration: str = "",
    outcome: str = "",
    customer_answered: bool = False,
    summary: str = "",
    notes: str = "",
    remember_number: bool = False,
) -> PhoneCall:
    """Record a call and tell it on the ticket's timeline, creating the ticket (channel phone, requested by the
    caller) when none is given.

    When the agent spoke with the customer the call is a public staff reply (``summary``, the customer sees it),
    so it counts as the first response and stops the SLA clock like any reply; the internal ``notes`` follow as a
    staff-only note. Otherwise the whole call is an internal note. Every field error is reported at once."""
    if not actor.is_staff:
        raise Forbidden("Only staff can log calls.")
    errors: dict[str, str] = {}
    if ticket is not None and caller is None:
        caller = ticket.requester
    if caller is None or not caller.is_customer or not caller.is_active:
        errors["caller"] = "Choose the customer who was on the call."
    elif ticket is not None and ticket.requester_id != caller.id:
        errors["ticket"] = "That ticket is not one of this caller's."
    direction_obj = _choice(CallDirection, direction, "direction", "Choose inbound or outbound.", errors)
    outcome_obj = _choice(CallOutcome, outcome, "outcome", "Choose how the call went.", errors)
    number_text = (number or "").strip()
    e164 = normalize_number(number_text) if number_text else (caller.phone if caller is not None else None) or ""
    if number_text and e164 is None:
        errors["number"] = BAD_NUMBER
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        errors["duration"] = str(exc)
        seconds = 0
    summary = (summary or "").strip()
    notes = (notes or "").strip()
    if len(summary) > SUMMARY_MAX:
        errors["summary"] = f"At most {SUMMARY_MAX} characters."
    if len(notes) > NOTES_MAX:
        errors["notes"] = f"At most {NOTES_MAX} characters."
    if customer_answered:
        if outcome_obj in UNREACHED_OUTCOMES:
            errors["customer_answered"] = "Nobody answered a call with this outcome: untick the box or change it."
        if not summary:
            errors["summary"] = "Summarize the call for the customer (they see this as a reply)."
        if ticket is not None and ticket.status is Status.closed:
            errors["ticket"] = "This ticket is closed: open a new ticket for the call."
    elif not summary and not notes:
        errors["notes"] = "Write what happened on the call."
    if ticket is None and not (subject or "").strip():
        errors["subject"] = "Give the new ticket a subject."
    if errors:
        raise ValidationFailed("The call was not logged.", errors)

    created = ticket is None
    if created:
        ticket = ticket_service.create_ticket(
            actor,
            subject=subject,
            description=summary or subject,
            priority=priority or "medium",
            channel=Channel.phone,
            requester=caller,
        )
    if customer_answered:
        event = ticket_service.reply_to_ticket(actor, ticket, _public_body(actor, direction_obj, seconds, summary))
        if notes:
            ticket_service.reply_to_ticket(
                actor, ticket, _internal_body(direction_obj, e164, outcome_obj, seconds, notes), internal=True
            )
    else:
        text = "\n\n".join(part for part in (summary, notes) if part)
        event = ticket_service.reply_to_ticket(
            actor, ticket, _internal_body(direction_obj, e164, outcome_obj, seconds, text), internal=True
        )
    if remember_number and e164 and caller.phone is None:
        caller.phone = e164
    call = PhoneCall(
        ticket_id=ticket.id,
        event_id=event.id,
        agent_id=actor.id,
        caller_id=caller.id,
        direction=direction_obj,
        number=e164,
        duration_seconds=seconds,
        outcome=outcome_obj,
        customer_answered=bool(customer_answered),
        notes="\n\n".join(part for part in (summary, notes) if part) if not customer_answered else notes,
        created_ticket=created,
        created_at=utcnow(),
    )
    db.session.add(call)
    db.session.flush()
    return call


def _choice(enum_cls, value, field: str, message: str, errors: dict[str, str]):
    try:
        return enum_cls(value)
    except ValueError:
        errors[field] = message
        return None


def set_phone(actor: User, user: User, text: str) -> str | None:
    """Record (or clear, with an empty ``text``) a user's phone number, normalized to E.164. Staff may set anyone's;
    a customer only their own."""
    if not (actor.is_staff or actor.id == user.id):
        raise Forbidden("You cannot change this phone number.")
    value = (text or "").strip()
    if not value:
        user.phone = None
        return None
    number = normalize_number(value)
    if number is None:
        raise ValidationFailed("The phone number was not saved.", {"phone": BAD_NUMBER})
    user.phone = number
    db.session.flush()
    return number
