"""The emergency hotline: the telephony provider's signed webhook and the agent's form both end here, as a
critical ticket (channel ``phone``) that pages the on-call engineer.

Signature: ``X-Hotline-Signature: v1=<hex>``, the HMAC-SHA256 of ``"<X-Hotline-Timestamp>.<raw body>"`` with
``HOTLINE_WEBHOOK_SECRET``; the timestamp (Unix seconds) must be within ``HOTLINE_WEBHOOK_TOLERANCE_SECONDS`` of our
clock. The provider's ``call_id`` is unique: the same call sent twice (a retry, a replay) answers with the first
call's ticket and files nothing new.

Who the caller is: the account whose ``users.phone`` is the calling number (customers first), else the account of
``caller_email`` (a new customer account for an unknown address, in its domain's organization as for email), else
a placeholder customer "Hotline caller +1…" kept for that number (address ``hotline-caller-<digits>@hotline.invalid``,
all notification emails off), so the next call from the number finds the same requester.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Channel, NotificationPreference, Priority, Role, User, utcnow
from portal.models.paging import HotlineCall
from portal.params import bad_text, single_line
from portal.services import tickets as ticket_service
from portal.services.accounts import UNUSABLE_PASSWORD, find_user_by_email, normalize_email
from portal.services.changes import SYSTEM
from portal.services.errors import ServiceError, ValidationFailed
from portal.services.mail import senders as mail_senders
from portal.services.paging import pages
from portal.services.phone import find_callers, normalize_number

SIGNATURE_HEADER = "X-Hotline-Signature"
TIMESTAMP_HEADER = "X-Hotline-Timestamp"
PLACEHOLDER_DOMAIN = "hotline.invalid"
SUMMARY_MAX = 20_000
_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")


class SignatureRefused(ServiceError):
    status_code = 401
    code = "bad_signature"


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Hotline-Signature`` value for ``body`` sent at ``timestamp`` (what the provider computes)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(body: bytes, timestamp: str | None, signature: str | None, now: float | None = None) -> None:
    """Refuse (``SignatureRefused``) unless ``signature`` is a v1 HMAC of this body and fresh ``timestamp``."""
    secret = current_app.config.get("HOTLINE_WEBHOOK_SECRET")
    if not secret:
        raise SignatureRefused("The hotline webhook is not configured (HOTLINE_WEBHOOK_SECRET).")
    if not timestamp or not signature:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required.")
    try:
        sent = int(timestamp.strip())
    except ValueError:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be Unix seconds.") from None
    tolerance = int(current_app.config.get("HOTLINE_WEBHOOK_TOLERANCE_SECONDS", 300))
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} is more than {tolerance} seconds away from our clock.")
    expected = sign(secret, timestamp.strip(), body)
    # several signatures may be sent during a secret rotation: "v1=<hex>, v1=<hex>"
    offered = [part.strip() for part in signature.split(",") if part.strip()]
    if not any(hmac.compare_digest(expected.encode(), part.encode()) for part in offered):
        raise SignatureRefused("The signature does not match.")


@dataclass(frozen=True)
class CallIn:
    call_id: str
    from_number: str  # as dialled in (trimmed); ``number`` is its E.164 form when it has one
    number: str | None
    to_number: str
    caller_name: str
    caller_email: str
    started_at: datetime | None
    summary: str


def _text(data: dict, name: str, limit: int, errors: dict[str, str], *, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            errors[name] = "This field is required."
        return ""
    if not isinstance(value, str):
        errors[name] = "Must be a string."
        return ""
    problem = bad_text(value)
    if problem:
        errors[name] = f"The text {problem}."
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[name] = f"At most {limit} characters."
        return ""
    if required and not value:
        errors[name] = "This field is required."
    return value


def parse_call(data: Any) -> CallIn:
    """The documented payload (docs/hotline.md) → ``CallIn``, or ``ValidationFailed`` (422) naming the fields."""
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.", {"body": "Send a JSON object."})
    errors: dict[str, str] = {}
    call_id = _text(data, "call_id", 100, errors, required=True)
    if call_id and not _CALL_ID.match(call_id):
        errors["call_id"] = "Letters, digits and . _ : - only."
    from_number = single_line(_text(data, "from", 64, errors, required=True))[:32]
    to_number = single_line(_text(data, "to", 64, errors))[:32]
    name = single_line(_text(data, "caller_name", 200, errors))
    email = _text(data, "caller_email", 254, errors)
    if email:
        try:
            email = normalize_email(email)
        except ValidationFailed:
            errors["caller_email"] = "Not an email address."
    started_at = None
    raw_start = _text(data, "started_at", 40, errors, required=True)
    if raw_start:
        try:
            started_at = datetime.fromisoformat(raw_start.replace("Z", "+00:00"))
            if started_at.tzinfo is None:
                raise ValueError
            started_at = started_at.astimezone(UTC)
        except ValueError:
            errors["started_at"] = "An ISO 8601 instant with its zone, e.g. 2026-04-01T09:00:00Z."
    summary = _text(data, "summary", SUMMARY_MAX, errors)
    transcript = _text(data, "transcript", SUMMARY_MAX, errors)
    if errors:
        raise ValidationFailed("The call could not be read.", errors)
    body = "\n\n".join(part for part in (summary, f"Transcript:\n{transcript}" if transcript else "") if part)
    return CallIn(
        call_id=call_id,
        from_number=from_number,
        number=normalize_number(from_number),
        to_number=to_number,
        caller_name=name,
        caller_email=email,
        started_at=started_at,
        summary=body,
    )


def manual_call(number: str, name: str, email: str, summary: str) -> CallIn:
    """A call an agent took by hand (the form): the same checks, an id of our own."""
    return parse_call(
        {
            "call_id": f"manual-{secrets.token_hex(8)}",
            "from": number or "",
            "caller_name": name or None,
            "caller_email": email or None,
            "started_at": utcnow().isoformat(),
            "summary": summary or None,
        }
    )


# --------------------------------------------------------------------------- the caller


def _placeholder(call: CallIn) -> User:
    digits = re.sub(r"\D", "", call.number or "")
    email = f"hotline-caller-{digits or 'withheld'}@{PLACEHOLDER_DOMAIN}"
    user = find_user_by_email(email)
    if user is not None:
        return user
    label = call.number or "(number withheld)"
    user = User(
        email=email,
        name=f"Hotline caller {label}"[:200],
        password_hash=UNUSABLE_PASSWORD,
        role=Role.customer,
        phone=call.number,
        specializations=[],
        email_verified_at=None,
        is_approved=True,
    )
    db.session.add(user)
    db.session.flush()
    # its address reaches nobody: no notification emails at all
    db.session.add(
        NotificationPreference(
            user_id=user.id,
            email_ticket_updates=False,
            email_assignments=False,
            email_sla_alerts=False,
            email_escalations=False,
            email_handover=False,
        )
    )
    return user


def resolve_caller(call: CallIn) -> tuple[User, str]:
    """The requester of the call's ticket and how they were found (in words, for the call record)."""
    if call.number:
        found = find_callers(call.number)
        if found:
            shared = f" ({len(found)} active accounts share it)" if len(found) > 1 else ""
            return found[0], f"Known number {call.number}: {found[0].name}{shared}."
    if call.caller_email:
        found = find_callers(call.caller_email)
        if found:
            return found[0], f"Known address {call.caller_email}: {found[0].name}."
        sender = mail_senders.resolve(call.caller_email, call.caller_name, accept_unknown=True)
        if sender.user is not None:
            if sender.created and call.number and not sender.user.phone:
                sender.user.phone = call.number
            return sender.user, sender.detail
    user = _placeholder(call)
    return user, f"Unknown caller: filed for the placeholder customer {user.name}."


# --------------------------------------------------------------------------- filing


def _subject(call: CallIn, requester: User) -> str:
    who = call.caller_name or requester.name
    org = f" ({requester.organization.name})" if requester.organization else ""
    return f"Hotline: critical call from {who}{org}"[: ticket_service.SUBJECT_MAX]


def _description(call: CallIn, detail: str) -> str:
    lines = [call.summary or "(The call came without a summary.)", "", "— Hotline call —"]
    lines.append(f"From: {call.from_number or 'number withheld'}")
    if call.to_number:
        lines.append(f"To: {call.to_number}")
    if call.caller_name:
        lines.append(f"Caller: {call.caller_name}")
    if call.caller_email:
        lines.append(f"Email: {call.caller_email}")
    if call.started_at:
        lines.append(f"Started: {call.started_at:%Y-%m-%d %H:%M:%S} UTC")
    lines.append(f"Call id: {call.call_id}")
    lines.append(detail)
    return "\n".join(lines)


def existing_call(call_id: str) -> HotlineCall | None:
    return db.session.scalar(select(HotlineCall).where(HotlineCall.call_id == call_id))


def take_call(call: CallIn, *, taken_by: User | None = None) -> tuple[HotlineCall, bool]:
    """File the call as a critical ticket and page on call; returns (the call record, whether it is new). A call
    id seen before returns the first record and changes nothing. ``taken_by``: the agent who typed it in (the
    ticket's actor; else the system)."""
    seen = existing_call(call.call_id)
    if seen is not None:
        return seen, False
    record = HotlineCall(
        call_id=call.call_id,
        source="manual" if taken_by is not None else "webhook",
        from_number=call.from_number,
        to_number=call.to_number,
        caller_name=call.caller_name,
        caller_email=call.caller_email,
        summary=call.summary,
        started_at=call.started_at,
        taken_by_id=taken_by.id if taken_by is not None else None,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():  # the unique call id settles two deliveries of one call racing
            db.session.add(record)
    except IntegrityError:
        seen = existing_call(call.call_id)
        if seen is None:
            raise
        return seen, False
    requester, detail = resolve_caller(call)
    ticket = ticket_service.create_ticket(
        taken_by or SYSTEM,
        subject=_subject(call, requester),
        description=_description(call, detail),
        priority=Priority.critical,
        channel=Channel.phone,
        requester=requester,
    )
    record.ticket_id, record.requester_id, record.requester_detail = ticket.id, requester.id, detail[:300]
    db.session.flush()
    pages.start_page(ticket, call=record)
    return record, True
