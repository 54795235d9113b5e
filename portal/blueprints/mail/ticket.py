"""The email parts of the ticket pages: the full original of a mail (as escaped text), and for staff the
participant list (add, remove) and the merge of a mailed-in ticket into the ticket it belongs to (with a
confirmation step). htmx requests get the mail panel back; plain form posts a redirect with a flash."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.blueprints.common import attempt, staff_required
from portal.extensions import db, htmx
from portal.models import InboundMessage, Ticket, TicketEvent
from portal.params import single_line
from portal.services.access import can_read_ticket, get_ticket_for
from portal.services.errors import Conflict, NotFound, ServiceError
from portal.services.mail import merge as merge_service
from portal.services.mail import participants as participant_service
from portal.services.mail import pipeline


@login_required
def original(inbound_id: int):
    """The whole decoded text of a mail on a ticket: staff always, a customer when the mail made a public event of
    a ticket they can read (else 404, as for a mail that does not exist); the raw source stays with the admins."""
    inbound = db.session.get(InboundMessage, inbound_id)
    if inbound is None or not _may_read_original(inbound):
        abort(404)
    context = dict(inbound=inbound, text=pipeline.full_text(inbound), is_admin=current_user.is_admin)
    if htmx:
        return render_template("mail/partials/_original.html", **context)
    ticket = db.session.get(Ticket, inbound.ticket_id) if inbound.ticket_id else None
    return render_template("mail/original.html", ticket=ticket, **context)


def _may_read_original(inbound: InboundMessage) -> bool:
    if current_user.is_admin:
        return True
    if inbound.ticket_id is None:  # quarantined or ignored mail: only on /admin/mail
        return False
    if current_user.is_staff:
        return True
    event = db.session.get(TicketEvent, inbound.event_id) if inbound.event_id else None
    if event is None or not event.kind.is_public:
        return False
    ticket = db.session.get(Ticket, event.ticket_id)
    return ticket is not None and can_read_ticket(current_user, ticket)


def _panel_response(ticket: Ticket, refused: ServiceError | None, done: str):
    errors = (refused.fields or {"form": refused.message}) if refused is not None else {}
    if not htmx:
        if errors:
            flash(" ".join(errors.values()), "error")
        else:
            flash(done, "success")
        return redirect(url_for("agent.ticket", reference=ticket.reference) + "#ticket-mail", 303)
    status = refused.status_code if refused is not None else 200
    notice = "" if errors else done
    return render_template(
        "agent/partials/_ticket_mail.html", ticket=ticket, mail_errors=errors, mail_notice=notice
    ), status


@staff_required
def add_participant(reference: str):
    ticket = get_ticket_for(current_user, reference)
    email = single_line(request.form.get("email", ""))[:320]
    participant, refused = attempt(lambda: participant_service.add_participant(current_user, ticket, email))
    if refused is not None:
        ticket = get_ticket_for(current_user, reference)
    done = f"{participant.email} is copied on {ticket.reference}." if participant else ""
    return _panel_response(ticket, refused, done)


@staff_required
def remove_participant(reference: str, participant_id: int):
    ticket = get_ticket_for(current_user, reference)
    removed, refused = attempt(lambda: participant_service.remove_participant(current_user, ticket, participant_id))
    if refused is not None:
        ticket = get_ticket_for(current_user, reference)
    done = f"{removed.email} is no longer copied on {ticket.reference}." if removed else ""
    return _panel_response(ticket, refused, done)


@staff_required
def merge(reference: str):
    """Merge ticket ``reference`` (the source) into the ``target`` ticket of the form. Without ``confirm`` the
    confirmation page is shown first (what moves where); with it, the merge runs against both versions."""
    source = get_ticket_for(current_user, reference)
    try:
        target = get_ticket_for(current_user, single_line(request.form.get("target", ""))[:40])
    except NotFound:
        flash("Not merged: the ticket to merge into does not exist.", "error")
        return redirect(url_for("agent.ticket", reference=source.reference), 303)
    versions = (request.form.get("source_version"), request.form.get("target_version"))
    if request.form.get("confirm") != "yes":
        return render_template(
            "mail/merge_confirm.html",
            source=source,
            target=target,
            versions=versions,
            refusal=merge_service.merge_refusal(source, target),
            events=merge_service.customer_events(source),
        )
    _reply, refused = attempt(lambda: merge_service.merge_into(current_user, source, target, versions))
    if isinstance(refused, Conflict):
        flash(f"Not merged: {refused.message} Check both tickets and try again.", "error")
        return redirect(url_for("agent.ticket", reference=reference), 303)
    if refused is not None:
        flash(f"Not merged: {refused.message}", "error")
        return redirect(url_for("agent.ticket", reference=reference), 303)
    flash(f"{reference} was merged into {target.reference} and closed.", "success")
    return redirect(url_for("agent.ticket", reference=target.reference), 303)
