"""The two ways out: email over SMTP (standard library) and Slack incoming webhooks. Each send is recorded in
``notification_deliveries`` *before* it happens, with the Message-ID (email) or idempotency key (Slack) it carries,
so a retried job never sends a confirmed message again, and a send cut by a crash is retried with the same
Message-ID / key (the recipient's mail client shows it once). Every attempt is kept in
``notification_delivery_events`` (the admin outbox page shows it)."""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import NotificationDelivery, utcnow
from portal.models.notifications import NotificationDeliveryEvent
from portal.params import single_line
from workers.runner import PermanentFailure


class DeliveryInProgress(RuntimeError):
    """Another run holds this send and it is not uncertain yet: the job is retried later (with backoff), when the
    send is either confirmed (nothing to do) or old enough to be taken over."""


# Seconds a run waits for another run's send of the same delivery to be confirmed (two runners of one row: the
# embedded thread and ``run-pending``, or a job re-enqueued while it ran) before giving up with DeliveryInProgress.
IN_PROGRESS_WAIT = 5.0


class Claim(NamedTuple):
    """What a send must carry: the same values on every attempt of one delivery."""

    message_id: str
    idempotency_key: str
    attempt: int


def delivery_key(outbox_id: int, channel: str, recipient: str) -> str:
    return f"{outbox_id}:{channel}:{recipient.lower()}"[:300]


def idempotency_key(key: str) -> str:
    """Deterministic per (outbox row, channel, recipient): a Slack post or webhook carries it on every attempt."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def deliver_once(
    outbox_id: int, channel: str, recipient: str, send: Callable[[], str], *, message_id: str = ""
) -> bool:
    """``deliver`` for a ``send`` that takes no argument (its Message-ID is built deterministically by the caller)."""
    return deliver(outbox_id, channel, recipient, lambda _claim: send(), message_id=message_id)


def deliver(
    outbox_id: int, channel: str, recipient: str, send: Callable[[Claim], str], *, message_id: str = ""
) -> bool:
    """Run ``send(claim)`` unless this (outbox row, channel, recipient) was already sent or is being sent.

    The claim (with ``message_id`` and an idempotency key) is committed before sending. A clean failure marks the
    delivery ``failed`` and re-raises, so the job's retry claims and sends it again (it was never sent). A crash
    between claim and confirmation leaves it ``sending``: once older than ``DELIVERY_UNCERTAIN_AFTER`` the next run
    of the job takes it over — a compare-and-set on (state, attempts), so two retriers never both send — and sends
    with the Message-ID / key stored at the first claim. A fresh ``sending`` claim held elsewhere raises
    ``DeliveryInProgress`` (retried later). Returns whether this call sent."""
    key = delivery_key(outbox_id, channel, recipient)
    claim = _claim(key, outbox_id, channel, recipient, message_id)
    if claim is None:
        return False
    delivery_id, stored = claim
    try:
        reference = send(stored)
    except Exception as exc:
        _settle(delivery_id, outbox_id, stored.attempt, "failed", f"{exc.__class__.__name__}: {exc}"[:2000])
        raise
    _settle(delivery_id, outbox_id, stored.attempt, "sent", (reference or "")[:300])
    return True


def _event(conn, delivery_id: int, outbox_id: int, attempt: int, event: str, detail: str = "") -> None:
    conn.execute(
        insert(NotificationDeliveryEvent).values(
            delivery_id=delivery_id, outbox_id=outbox_id, attempt=attempt, event=event, detail=detail, at=utcnow()
        )
    )


def _claim(key: str, outbox_id: int, channel: str, recipient: str, message_id: str) -> tuple[int, Claim] | None:
    now = utcnow()
    idem = idempotency_key(key)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(NotificationDelivery).values(
                    key=key,
                    outbox_id=outbox_id,
                    channel=channel,
                    recipient=recipient[:254],
                    state="sending",
                    message_id=message_id[:300],
                    idempotency_key=idem,
                    attempts=1,
                    detail="",
                    created_at=now,
                    claimed_at=now,
                )
            )
            delivery_id = conn.scalar(select(NotificationDelivery.id).where(NotificationDelivery.key == key))
            _event(conn, delivery_id, outbox_id, 1, "claimed", message_id or idem)
        return delivery_id, Claim(message_id, idem, 1)
    except IntegrityError:
        pass  # claimed before: sent, failed cleanly, or sending (maybe uncertain)
    deadline = time.monotonic() + IN_PROGRESS_WAIT
    while True:
        try:
            return _reclaim(key, outbox_id, message_id, idem)
        except _Fresh as fresh:
            if time.monotonic() >= deadline:
                raise DeliveryInProgress(f"delivery {key} is being sent (claimed {fresh.since:%H:%M:%S} UTC)") from None
            time.sleep(0.1)  # another run of the same row is sending it right now: wait for its outcome


class _Fresh(Exception):
    def __init__(self, since):
        self.since = since


def _reclaim(key: str, outbox_id: int, message_id: str, idem: str) -> tuple[int, Claim] | None:
    """Claim a delivery that exists: None if sent; re-claim if failed; take over if uncertain; ``_Fresh`` if another
    run holds a recent claim."""
    now = utcnow()
    uncertain_after = timedelta(seconds=float(current_app.config.get("DELIVERY_UNCERTAIN_AFTER", 300)))
    with db.engine.begin() as conn:
        row = conn.execute(
            select(
                NotificationDelivery.id,
                NotificationDelivery.state,
                NotificationDelivery.attempts,
                NotificationDelivery.message_id,
                NotificationDelivery.idempotency_key,
                NotificationDelivery.claimed_at,
                NotificationDelivery.created_at,
            ).where(NotificationDelivery.key == key)
        ).first()
        if row is None:
            raise DeliveryInProgress(f"delivery {key} vanished while being claimed")
        if row.state == "sent":
            return None
        event, detail = "claimed", ""
        if row.state == "sending":
            since = row.claimed_at or row.created_at
            if now - since < uncertain_after:
                raise _Fresh(since)
            event, detail = (
                "taken_over",
                f"attempt {row.attempts} claimed {since:%Y-%m-%d %H:%M:%S} UTC, never confirmed",
            )
        stored = Claim(row.message_id or message_id[:300], row.idempotency_key or idem, row.attempts + 1)
        taken = conn.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == row.id,
                NotificationDelivery.state == row.state,
                NotificationDelivery.attempts == row.attempts,
            )
            .values(
                state="sending",
                attempts=stored.attempt,
                claimed_at=now,
                message_id=stored.message_id,
                idempotency_key=stored.idempotency_key,
            )
        ).rowcount
        if taken != 1:
            raise DeliveryInProgress(f"delivery {key} was claimed by another run")
        _event(conn, row.id, outbox_id, stored.attempt, event, detail)
    if event == "taken_over":
        current_app.logger.warning(
            "delivery %s: uncertain send taken over (%s); re-sending as %s",
            key,
            detail,
            stored.message_id or stored.idempotency_key,
        )
    return row.id, stored


def _settle(delivery_id: int, outbox_id: int, attempt: int, state: str, detail: str) -> None:
    """Record the outcome of attempt ``attempt`` (only if it still holds the claim)."""
    values: dict = {"state": state, "detail": detail if state == "failed" else ""}
    if state == "sent":
        values["sent_at"] = utcnow()
    with db.engine.begin() as conn:
        held = conn.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.state == "sending",
                NotificationDelivery.attempts == attempt,
            )
            .values(**values)
        ).rowcount
        if state == "sent" and held:
            conn.execute(
                update(NotificationDelivery)
                .where(NotificationDelivery.id == delivery_id, NotificationDelivery.message_id == "")
                .values(message_id=detail)
            )
        _event(conn, delivery_id, outbox_id, attempt, state, detail)


# --------------------------------------------------------------------------- email


def mail_domain() -> str:
    address = parseaddr(current_app.config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


def ticket_thread_id(reference: str) -> str:
    """The stable root of a ticket's email thread: every message about it points here (In-Reply-To, References)."""
    return f"<ticket-{reference}@{mail_domain()}>"


class _MailPolicy(EmailPolicy):
    """The default policy, except that the machine-read headers are written on one line as given: folding the long
    URIs of ``List-Unsubscribe`` would turn them into RFC 2047 encoded words (which mail clients do not decode
    there), and a signed Message-ID is easier to match unfolded."""

    _UNFOLDED = frozenset({"list-unsubscribe", "message-id", "in-reply-to", "references"})

    def _unfolded(self, name, value) -> bool:
        return name.lower() in self._UNFOLDED and len(name) + len(str(value)) < 990  # the line limit is 998

    def fold(self, name, value):
        if self._unfolded(name, value):
            return f"{name}: {single_line(str(value))}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if self._unfolded(name, value):
            return self.fold(name, value).encode("ascii", "replace")
        return super().fold_binary(name, value)


def build_email(
    to: str,
    subject: str,
    text: str,
    html: str,
    *,
    message_id: str,
    thread_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    list_unsubscribe: str | None = None,
) -> EmailMessage:
    """``thread_id`` (the ticket's thread root) and ``references`` make References; In-Reply-To is ``in_reply_to``
    or the thread root. ``list_unsubscribe`` (``<https://…>, <mailto:…>``) adds the RFC 8058 one-click headers."""
    message = EmailMessage(policy=_MailPolicy())
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = single_line(to)
    message["Subject"] = single_line(subject)  # a line break in a header would fail every send (and every retry)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    chain = [ident for ident in dict.fromkeys([thread_id, *references]) if ident]
    if chain:
        message["In-Reply-To"] = single_line(in_reply_to or chain[0])
        message["References"] = single_line(" ".join(chain))
    if reply_to:
        message["Reply-To"] = single_line(reply_to)
    if list_unsubscribe:
        message["List-Unsubscribe"] = single_line(list_unsubscribe)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"  # loop protection: auto-responders must not answer
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_email(message: EmailMessage) -> str:
    config = current_app.config
    if not config.get("MAIL_SERVER"):  # embedded default: write the message where a developer can read it
        folder = Path(current_app.instance_path) / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(message["Message-ID"].encode()).hexdigest()[:16]
        (folder / f"{name}.eml").write_bytes(bytes(message))
        return message["Message-ID"]
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
    return message["Message-ID"]


# --------------------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_configured() -> bool:
    return bool(current_app.config.get("SLACK_WEBHOOK_URL"))


def post_slack(text: str, *, idempotency_key: str = "") -> str:
    """POST ``{"text": text}`` (already escaped) to the webhook, only if its host is allowed. ``idempotency_key``
    (the same on every attempt of one delivery) goes in the body and an ``Idempotency-Key`` header, so a receiver
    that honours it drops a re-sent post."""
    url = current_app.config["SLACK_WEBHOOK_URL"]
    parts = urlsplit(url)
    allowed = {h.lower() for h in current_app.config.get("SLACK_ALLOWED_HOSTS", ())}
    if parts.scheme not in ("https", "http") or (parts.hostname or "").lower() not in allowed:
        raise PermanentFailure(f"Slack webhook host {parts.hostname!r} is not in SLACK_ALLOWED_HOSTS")
    body: dict = {"text": text}
    headers = {"Content-Type": "application/json"}
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return f"slack:{response.status}"
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RuntimeError(f"Slack answered HTTP {exc.code}") from None
