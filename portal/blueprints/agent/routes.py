"""Agent workspace: the queue and the ticket page with inline htmx edits."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.agent.forms import AgentReplyForm
from portal.blueprints.common import make_page, page_number, staff_required
from portal.extensions import db, htmx
from portal.models import Ticket
from portal.services import tickets as ticket_service
from portal.services.access import get_ticket_for, visible_events
from portal.services.errors import Conflict, ValidationFailed
from portal.services.queries import (
    TicketFilters,
    active_categories,
    assignable_staff,
    list_tickets,
    organization_choices,
    queue_counts,
    queue_views,
)


@staff_required
def index():
    return redirect(url_for("agent.queue"))


@staff_required
def queue():
    filters = TicketFilters.from_args(request.args, default_view="open", views=queue_views(current_user))
    number, size = page_number(), current_app.config["QUEUE_PAGE_SIZE"]
    page = make_page(list_tickets(current_user, filters, number, size), number, size)
    if htmx and not htmx.boosted:
        return render_template("agent/partials/_queue_results.html", page=page, filters=filters)
    return render_template(
        "agent/queue.html",
        page=page,
        filters=filters,
        views=queue_views(current_user),
        categories=active_categories(),
        staff=assignable_staff(),
        organizations=organization_choices(),
    )


@staff_required
def counts():
    return render_template(
        "agent/partials/_queue_counts.html",
        counts=queue_counts(current_user),
        views=queue_views(current_user),
        current_view=request.args.get("view", ""),
    )


@staff_required
def ticket(reference: str):
    ticket = get_ticket_for(current_user, reference)
    return render_template("agent/ticket.html", **_ticket_context(ticket))


@staff_required
def timeline(reference: str):
    ticket = get_ticket_for(current_user, reference)
    return render_template("partials/_timeline.html", events=visible_events(current_user, ticket))


@staff_required
def update_fields(reference: str):
    """Inline edit of one or more of status, priority, category, tier and assignee against the version shown."""
    ticket = get_ticket_for(current_user, reference)
    fields = {name: request.form[name] for name in ticket_service.EDITABLE_FIELDS if name in request.form}
    try:
        ticket_service.update_ticket(current_user, ticket, expected_version=request.form.get("version"), **fields)
    except Conflict as exc:
        db.session.rollback()
        ticket = get_ticket_for(current_user, reference)
        changes = ticket_service.events_since(ticket, exc.expected_version, include_internal=True)
        return _inline_response(ticket, status=409, conflict=changes)
    except ValidationFailed as exc:
        db.session.rollback()
        ticket = get_ticket_for(current_user, reference)
        return _inline_response(ticket, status=422, errors=exc.fields or {"form": exc.message})
    if not htmx:
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    return _inline_response(ticket)


@staff_required
def reply(reference: str):
    ticket = get_ticket_for(current_user, reference)
    form = AgentReplyForm()
    form.status.choices = [("", "—")] + [
        (s.value, s.short_label) for s in ticket_service.allowed_statuses(current_user, ticket)
    ]
    if not form.validate_on_submit():
        return _reply_response(ticket, form, status=422)
    try:
        ticket_service.reply_to_ticket(
            current_user, ticket, form.body.data, internal=form.internal.data, status=form.status.data or None
        )
    except Conflict:
        db.session.rollback()
        ticket = get_ticket_for(current_user, reference)
        form.body.errors = ["Someone saved this ticket at the same moment; your message was kept — send it again."]
        return _reply_response(ticket, form, status=409)
    except ValidationFailed as exc:
        db.session.rollback()
        ticket = get_ticket_for(current_user, reference)
        for name, message in exc.fields.items():
            if hasattr(form, name):
                getattr(form, name).errors = [message]
        return _reply_response(ticket, form, status=422)
    if not htmx:
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    return _reply_response(ticket, AgentReplyForm(formdata=None))


def _ticket_context(ticket: Ticket, *, reply_form=None, conflict=None, errors=None) -> dict:
    form = reply_form or AgentReplyForm(formdata=None)
    allowed = ticket_service.allowed_statuses(current_user, ticket)
    form.status.choices = [("", "—")] + [(s.value, s.short_label) for s in allowed]
    return dict(
        ticket=ticket,
        events=visible_events(current_user, ticket),
        allowed=allowed,
        categories=active_categories(),
        staff=assignable_staff(),
        reply_form=form,
        conflict=conflict,
        errors=errors or {},
    )


def _inline_response(ticket: Ticket, *, status: int = 200, conflict=None, errors=None):
    context = _ticket_context(ticket, conflict=conflict, errors=errors)
    context.update(counts=queue_counts(current_user), views=queue_views(current_user), current_view="")
    return render_template("agent/partials/_inline_update.html", **context), status


def _reply_response(ticket: Ticket, form: AgentReplyForm, *, status: int = 200):
    if not htmx:
        return render_template("agent/ticket.html", **_ticket_context(ticket, reply_form=form)), status
    context = _ticket_context(ticket, reply_form=form)
    context.update(counts=queue_counts(current_user), views=queue_views(current_user), current_view="")
    return render_template("agent/partials/_reply_update.html", **context), status
