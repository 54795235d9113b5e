"""The two ways out: email over SMTP (standard library) and Slack incoming webhooks. Each send is recorded in
``notification_deliveries`` *before* it happens, so a retried job never sends the same thing twice."""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import NotificationDelivery, utcnow
from workers.runner import PermanentFailure


def deliver_once(outbox_id: int, channel: str, recipient: str, send: Callable[[], str]) -> bool:
    """Run ``send`` unless this (outbox row, channel, recipient) was already sent or is being sent. The claim is
    committed before sending; a clean failure removes it (so a retry may send), a crash leaves it (never re-sent).
    Returns whether this call sent."""
    key = f"{outbox_id}:{channel}:{recipient.lower()}"[:300]
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(NotificationDelivery).values(
                    key=key,
                    outbox_id=outbox_id,
                    channel=channel,
                    recipient=recipient[:254],
                    state="sending",
                    message_id="",
                    detail="",
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        return False
    try:
        reference = send()
    except Exception:
        with db.engine.begin() as conn:
            conn.execute(
                delete(NotificationDelivery).where(
                    NotificationDelivery.key == key, NotificationDelivery.state == "sending"
                )
            )
        raise
    with db.engine.begin() as conn:
        conn.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.key == key)
            .values(state="sent", sent_at=utcnow(), message_id=(reference or "")[:300])
        )
    return True


# --------------------------------------------------------------------------- email


def mail_domain() -> str:
    address = parseaddr(current_app.config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


def ticket_thread_id(reference: str) -> str:
    """The stable root of a ticket's email thread: every message about it points here (In-Reply-To, References)."""
    return f"<ticket-{reference}@{mail_domain()}>"


def build_email(
    to: str, subject: str, text: str, html: str, *, message_id: str, thread_id: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    if thread_id:
        message["In-Reply-To"] = thread_id
        message["References"] = thread_id
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


def post_slack(text: str) -> str:
    """POST ``{"text": text}`` (already escaped) to the webhook, only if its host is allowed."""
    url = current_app.config["SLACK_WEBHOOK_URL"]
    parts = urlsplit(url)
    allowed = {h.lower() for h in current_app.config.get("SLACK_ALLOWED_HOSTS", ())}
    if parts.scheme not in ("https", "http") or (parts.hostname or "").lower() not in allowed:
        raise PermanentFailure(f"Slack webhook host {parts.hostname!r} is not in SLACK_ALLOWED_HOSTS")
    request = urllib.request.Request(
        url, data=json.dumps({"text": text}).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return f"slack:{response.status}"
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RuntimeError(f"Slack answered HTTP {exc.code}") from None
