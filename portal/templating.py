"""Every template global and filter of the portal, registered in one place by ``portal.web.init_app``.

Each helper is a thin bridge from a template to a service: the rule lives in the service, the HTML in a template.
"""

from __future__ import annotations

from flask import Flask, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from portal.blueprints.main.contact import SUPPORT_PHONES
from portal.markdown import render_markdown
from portal.models import OPEN_STATUSES, Channel, Priority, Role, Status, Ticket, Tier, format_reference, utcnow
from portal.services import escalation, sla
from portal.services.kb.analytics import click_token
from portal.services.kb.video import parse_video_url
from portal.services.notifications import preference_rows
from portal.timezones import localtime


def sla_info(ticket: Ticket) -> dict:
    """SLA facts per target (state, due, achieved and breached instants) and the time left to the next due time, for
    the ticket's SLA panel (no extra query): the same facts the API gives."""
    facts = sla.ticket_facts(ticket)
    return {
        "facts": facts,
        "states": {target: f["state"] for target, f in facts.items()},
        "remaining": sla.format_remaining(sla.remaining(ticket)),
    }


def escalation_reasons(ticket: Ticket) -> dict | None:
    tier = escalation.next_tier(ticket)
    return {"tier": tier, "choices": escalation.reasons_for(ticket)} if tier else None


def can_escalate(ticket: Ticket) -> bool:
    return escalation.can_escalate(current_user, ticket)


def kb_video(url: str | None):
    return parse_video_url(url) if url else None


def nl2br(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in (text or "").split("\n"))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(localtime=localtime, reference=format_reference, nl2br=nl2br, markdown=render_markdown)
    app.jinja_env.globals.update(
        Status=Status,
        Priority=Priority,
        Tier=Tier,
        Channel=Channel,
        Role=Role,
        OPEN_STATUSES=OPEN_STATUSES,
        sla_info=sla_info,
        sla_badge_for=sla.badge,
        now_utc=utcnow,
        tier_time=escalation.tier_time,
        escalation_reasons=escalation_reasons,
        can_escalate=can_escalate,
        kb_video=kb_video,
        kb_search_url=lambda: url_for("kb.search"),
        kb_click_token=click_token,
        notification_preference_rows=lambda: preference_rows(current_user),
        support_phones=SUPPORT_PHONES,
    )
