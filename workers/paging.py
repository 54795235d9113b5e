"""Paging jobs: ``paging.page`` {page_id, step, attempt_ids} sends one step of a page — one Slack post for the
team, and to each person paged an email and an SMS (each sent once: ``senders.deliver``); and the periodic
escalation of pages nobody acknowledged in time."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models.paging import STEP_LABELS, Page, PageAttempt
from portal.services.paging import pages
from workers import senders
from workers.context import job_context
from workers.notify import _email, _slack, _staff_url
from workers.registry import handler
from workers.runner import PermanentFailure


def ack_url(attempt: PageAttempt) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("oncall.ack_link", page_id=attempt.page_id, token=pages.ack_token(attempt), _external=True)


def post_sms(to: str, text: str, *, idempotency_key: str) -> str:
    """POST ``{"to", "text"}`` to the SMS gateway (``Authorization: Bearer SMS_GATEWAY_TOKEN``, an
    ``Idempotency-Key`` that is the same on every attempt of one send)."""
    config = current_app.config
    url = config.get("SMS_GATEWAY_URL")
    if not url or not url.startswith(("https://", "http://")):
        raise PermanentFailure("SMS_GATEWAY_URL is not an http(s) URL")
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if config.get("SMS_GATEWAY_TOKEN"):
        headers["Authorization"] = f"Bearer {config['SMS_GATEWAY_TOKEN']}"
    body = json.dumps({"to": to, "text": text, "idempotency_key": idempotency_key}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return f"sms:{response.status}"
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RuntimeError(f"the SMS gateway answered HTTP {exc.code}") from None


@handler("paging.page")
def page_step(payload: dict[str, Any], message_id: int) -> None:
    page = db.session.get(Page, int(payload["page_id"]))
    if page is None:
        raise PermanentFailure(f"page {payload.get('page_id')} does not exist")
    ids = [int(i) for i in payload.get("attempt_ids") or []]
    attempts = list(db.session.scalars(select(PageAttempt).where(PageAttempt.id.in_(ids)).order_by(PageAttempt.id)))
    ticket = page.ticket
    step = STEP_LABELS.get(str(payload.get("step")), str(payload.get("step")))
    names = ", ".join(a.user.name for a in attempts)
    # Slack first: its delivery record commits on its own connection (see workers/incidents.py)
    if any("slack" in a.channels for a in attempts):
        _slack(
            message_id,
            f"PAGE ({step}): {names}, critical hotline ticket {ticket.reference} {ticket.subject[:200]} — "
            f"acknowledge on the ticket page or with the link in your email/SMS.",
            (_staff_url(ticket), ticket.reference),
        )
    for attempt in attempts:
        user = attempt.user
        link = ack_url(attempt)
        if "email" in attempt.channels and user.is_active:
            _email(
                message_id,
                "paging.page",
                user,
                "page",
                f"PAGE: critical hotline ticket {ticket.reference} — acknowledge",
                paged_ticket=ticket,
                step=step,
                ack_url=link,
                ticket_link=_staff_url(ticket),
                ack_minutes=pages.ack_minutes(),
            )
        if "sms" in attempt.channels and user.is_active and user.phone and current_app.config.get("SMS_GATEWAY_URL"):
            text = f"ESG PAGE ({step}): critical {ticket.reference} {ticket.subject[:80]}. Acknowledge: {link}"
            senders.deliver(
                message_id,
                "sms",
                user.phone,
                lambda claim, phone=user.phone, text=text: post_sms(phone, text, idempotency_key=claim.idempotency_key),
            )


def page_escalations():
    """Page the next step of every page not acknowledged in time (every 30 s; idempotent, safe under two
    runners)."""
    with job_context():
        return pages.escalate_due()
