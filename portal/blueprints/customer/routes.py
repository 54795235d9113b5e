"""Customer portal: file tickets, follow them, reply, confirm a solution, reopen."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import attempt_on_ticket, customer_required, make_page, page_number
from portal.blueprints.customer.forms import NewTicketForm, ReplyForm, VersionForm
from portal.extensions import db, htmx
from portal.models import Status, Ticket
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from portal.services.access import get_ticket_for, visible_events
from portal.services.errors import Conflict, ValidationFailed
from portal.services.kb.analytics import record_ticket_suggestions
from portal.services.queries import TicketFilters, customer_counts, list_tickets


@customer_required
def home():
    recent = list_tickets(current_user, TicketFilters(view="org", sort="updated"), 1, 5)
    return render_template("customer/home.html", recent=recent[:5], counts=customer_counts(current_user))


@customer_required
def new_ticket():
    form = NewTicketForm()
    if form.validate_on_submit():
        files = request.files.getlist("attachments")
        try:
            _check_files(files)
            ticket = ticket_service.create_ticket(
                current_user,
                subject=form.subject.data,
                description=form.description.data,
                category=form.category.data,
                priority=form.priority.data,
            )
            attachment_service.store_uploads(files, uploader=current_user, ticket=ticket)
        except ValidationFailed as exc:
            _form_errors(form, exc)
            return render_template("customer/new_ticket.html", form=form), 422
        record_ticket_suggestions(ticket, request.form.getlist("suggested"))  # which KB suggestions were shown
        flash(f"Ticket {ticket.reference} filed. We will answer by email and here.", "success")
        return redirect(url_for("customer.ticket", reference=ticket.reference), 303)
    return render_template("customer/new_ticket.html", form=form), (422 if form.errors else 200)


@customer_required
def tickets():
    filters = TicketFilters.from_args(request.args, default_view="org")
    if filters.view not in ("mine_customer", "org"):
        filters.view = "org"
    number, size = page_number(), current_app.config["QUEUE_PAGE_SIZE"]
    page = make_page(list_tickets(current_user, filters, number, size), number, size)
    template = "customer/partials/_ticket_rows.html" if htmx and not htmx.boosted else "customer/tickets.html"
    return render_template(template, page=page, filters=filters)


@customer_required
def ticket(reference: str):
    ticket = get_ticket_for(current_user, reference)
    return _render_ticket(ticket)


@customer_required
def reply(reference: str):
    ticket = get_ticket_for(current_user, reference)
    form = ReplyForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, reply_form=form, status=422)
    files = request.files.getlist("attachments")
    try:
        _check_files(files)
        result = ticket_service.reply_to_ticket(current_user, ticket, form.body.data)
        attachment_service.store_reply_uploads(files, uploader=current_user, ticket=ticket, result=result)
    except ValidationFailed as exc:  # nothing is kept; the page shows the text typed and why
        db.session.rollback()
        _form_errors(form, exc)
        return _render_ticket(get_ticket_for(current_user, reference), reply_form=form, status=422)
    if isinstance(result, Ticket):
        flash(f"{ticket.reference} is closed, so we opened {result.reference} as a follow-up.", "success")
        return redirect(url_for("customer.ticket", reference=result.reference), 303)
    flash("Reply sent.", "success")
    return redirect(url_for("customer.ticket", reference=ticket.reference), 303)


@customer_required
def solve(reference: str):
    return _status_action(reference, Status.solved, "Thanks for confirming — the ticket is solved.")


@customer_required
def reopen(reference: str):
    return _status_action(reference, Status.open, "The ticket is open again; we will be back to you.")


def _status_action(reference: str, status: Status, message: str):
    ticket = get_ticket_for(current_user, reference)
    form = VersionForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, status=400)
    ticket, _changes, refused = attempt_on_ticket(
        reference,
        lambda t: ticket_service.change_status(current_user, t, status.value, expected_version=form.version.data),
    )
    if isinstance(refused, Conflict):
        return _render_ticket(ticket, conflict=True, status=409)
    if refused is not None:
        flash(refused.message, "error")
        return _render_ticket(ticket, status=refused.status_code)
    flash(message, "success")
    return redirect(url_for("customer.ticket", reference=ticket.reference), 303)


def _render_ticket(ticket: Ticket, *, reply_form=None, conflict: bool = False, status: int = 200):
    events = visible_events(current_user, ticket)
    return render_template(
        "customer/ticket.html",
        ticket=ticket,
        events=events,
        reply_form=reply_form or ReplyForm(),
        allowed=ticket_service.allowed_statuses(current_user, ticket),
        conflict=conflict,
    ), status


def _check_files(files) -> None:
    """Refuse unacceptable files before anything is written (the form comes back with the text typed)."""
    problems = attachment_service.check_uploads(files)
    if problems:
        raise ValidationFailed(problems[attachment_service.FIELD], problems)


def _form_errors(form, exc: ValidationFailed) -> None:
    for name, message in exc.fields.items():
        if hasattr(form, name):
            getattr(form, name).errors = [message]
