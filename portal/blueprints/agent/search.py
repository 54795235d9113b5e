"""Staff ticket search ``/agent/search``: subject, description, every public reply and internal note, with filters
(status, priority, category, organization, assignee) and highlighted snippets."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from portal.blueprints.common import page_number, staff_required
from portal.extensions import db, htmx
from portal.models import Organization
from portal.search.tickets import TicketSearchFilters, load_hits, search_tickets
from portal.services.access import visible_tickets
from portal.services.queries import active_categories, assignable_staff


@staff_required
def search():
    text = (request.args.get("q") or "").strip()
    filters = TicketSearchFilters.from_args(request.args)
    results = search_tickets(current_user, text, filters, page_number()) if text else None
    rows = load_hits(results, visible_tickets(current_user)) if results else []
    context = dict(results=results, rows=rows, filters=filters, endpoint="agent.search", ticket_endpoint="agent.ticket")
    if htmx and not htmx.boosted:
        return render_template("search/_ticket_results.html", **context)
    organizations = db.session.scalars(db.select(Organization).order_by(Organization.name)).all()
    return render_template(
        "agent/search.html",
        categories=active_categories(),
        staff=assignable_staff(),
        organizations=organizations,
        **context,
    )
