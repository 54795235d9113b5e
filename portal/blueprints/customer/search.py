"""Customer ticket search ``/portal/search``: their organization's tickets (their own without one), public text only.
The organization/requester rule is part of the Whoosh query (``portal.search.tickets``)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from portal.blueprints.common import customer_required, page_number
from portal.extensions import htmx
from portal.search.tickets import TicketSearchFilters, load_hits, search_tickets
from portal.services.access import visible_tickets


@customer_required
def search():
    text = (request.args.get("q") or "").strip()
    filters = TicketSearchFilters.from_args(request.args)
    results = search_tickets(current_user, text, filters, page_number()) if text else None
    rows = load_hits(results, visible_tickets(current_user)) if results else []
    template = "search/_ticket_results.html" if htmx and not htmx.boosted else "customer/search.html"
    return render_template(
        template,
        results=results,
        rows=rows,
        filters=filters,
        endpoint="customer.search",
        ticket_endpoint="customer.ticket",
    )
