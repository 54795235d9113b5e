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
from portal.services import csat, escalation, sla
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


def csat_ratings(events: list) -> list:
    """The timeline's ticket's satisfaction ratings the viewer may see (the timeline merges them in by time)."""
    if not events or not current_user.is_authenticated:
        return []
    return csat.ratings_for_viewer(current_user, events[0].ticket_id)


def csat_panel(ticket: Ticket) -> dict | None:
    """The requester's survey of ``ticket`` for their ticket page while it is open or once answered, else None."""
    if not current_user.is_authenticated or current_user.is_staff:
        return None
    survey = csat.survey_for_viewer(current_user, ticket)
    if survey is None or csat.state_at(survey, utcnow()).value not in ("open", "answered"):
        return None
    return {"survey": survey, "ratings": csat.RATINGS}


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
        csat_ratings=csat_ratings,
        csat_panel=csat_panel,
        kb_video=kb_video,
        kb_search_url=lambda: url_for("kb.search"),
        kb_click_token=click_token,
        notification_preference_rows=lambda: preference_rows(current_user),
        support_phones=SUPPORT_PHONES,
    )
