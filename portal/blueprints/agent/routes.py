"""Agent workspace: the queue and its counters (the ticket page is ``tickets``)."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import make_page, page_number, staff_required
from portal.extensions import htmx
from portal.services.queries import (
    TicketFilters,
    queue_counts,
    queue_filter_choices,
    queue_rows,
    queue_views,
)


@staff_required
def index():
    return redirect(url_for("agent.queue"))


@staff_required
def queue():
    views = queue_views(current_user)
    filters = TicketFilters.from_args(request.args, default_view="open", views=views)
    number, size = page_number(), current_app.config["QUEUE_PAGE_SIZE"]
    page = make_page(queue_rows(current_user, filters, number, size), number, size)
    if htmx and not htmx.boosted:
        return render_template("agent/partials/_queue_results.html", page=page, filters=filters)
    return render_template(
        "agent/queue.html",
        page=page,
        filters=filters,
        views=views,
        choices=queue_filter_choices(),
    )


@staff_required
def counts():
    return render_template(
        "agent/partials/_queue_counts.html",
        counts=queue_counts(current_user),
        views=queue_views(current_user),
        current_view=request.args.get("view", ""),
    )
