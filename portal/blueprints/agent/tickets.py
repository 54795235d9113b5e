"""The agent's ticket page and its inline htmx edits: fields, replies and notes, escalation.

Each edit runs one service call through ``attempt_on_ticket``; a refusal (409 stale version, 422 invalid, 403) is
answered with the fresh ticket re-rendered around the refusal, never with a lost edit.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.agent.forms import AgentReplyForm
from portal.blueprints.common import attempt_on_ticket, staff_required
from portal.extensions import htmx
from portal.models import Ticket
from portal.services import attachments as attachment_service
from portal.services import tickets as ticket_service
from portal.services.access import get_ticket_for, visible_events
from portal.services.errors import Conflict, ServiceError, ValidationFailed
from portal.services.queries import active_categories, assignable_staff, queue_counts, queue_views


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
    fields = {name: request.form[name] for name in ticket_service.EDITABLE_FIELDS if name in request.form}
    ticket, _changes, refused = attempt_on_ticket(
        reference,
        lambda t: ticket_service.update_ticket(current_user, t, expected_version=request.form.get("version"), **fields),
    )
    if refused is None and not htmx:
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    context = _ticket_context(ticket, refused=refused)
    return _partial("agent/partials/_inline_update.html", context, refused)


@staff_required
def reply(reference: str):
    form = AgentReplyForm()
    ticket = get_ticket_for(current_user, reference)
    form.status.choices = _status_choices(ticket)
    if not form.validate_on_submit():
        return _reply_response(ticket, form, None, status=422)
    files = request.files.getlist("attachments")
    problems = attachment_service.check_uploads(files)  # before anything is written; the message stays typed
    if problems:
        return _reply_response(ticket, form, ValidationFailed(problems[attachment_service.FIELD], problems))

    def send(t: Ticket):
        result = ticket_service.reply_to_ticket(
            current_user, t, form.body.data, internal=form.internal.data, status=form.status.data or None
        )
        attachment_service.store_reply_uploads(files, uploader=current_user, ticket=t, result=result)
        return result

    ticket, _event, refused = attempt_on_ticket(reference, send)
    if refused is None and not htmx:
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    return _reply_response(ticket, form if refused else AgentReplyForm(formdata=None), refused)


@staff_required
def escalate(reference: str):
    """Escalate one tier with a reason (and, for engineering, an external issue reference)."""
    ticket, _change, refused = attempt_on_ticket(
        reference,
        lambda t: ticket_service.escalate_ticket(
            current_user,
            t,
            to_tier=request.form.get("to_tier", ""),
            reason=request.form.get("reason", ""),
            external_ref=request.form.get("external_ref"),
            expected_version=request.form.get("version"),
        ),
    )
    errors = _errors_of(refused)
    if not htmx:
        if errors:
            flash("Not escalated: " + " ".join(errors.values()), "error")
        return redirect(url_for("agent.ticket", reference=ticket.reference), 303)
    context = _ticket_context(ticket)
    context["escalate_errors"] = errors
    return _partial("agent/partials/_escalate_update.html", context, refused)


# --------------------------------------------------------------------------- rendering


def _status_choices(ticket: Ticket) -> list[tuple[str, str]]:
    return [("", "—")] + [(s.value, s.short_label) for s in ticket_service.allowed_statuses(current_user, ticket)]


def _errors_of(refused: ServiceError | None) -> dict[str, str]:
    return (refused.fields or {"form": refused.message}) if refused is not None else {}


def _ticket_context(ticket: Ticket, *, reply_form=None, refused: ServiceError | None = None) -> dict:
    """Everything the ticket page and its partials show. A refused edit adds what changed meanwhile (409) or the
    reasons (422/403)."""
    form = reply_form or AgentReplyForm(formdata=None)
    form.status.choices = _status_choices(ticket)
    conflict = None
    if isinstance(refused, Conflict):
        conflict = ticket_service.events_since(ticket, refused.expected_version, include_internal=True)
    return dict(
        ticket=ticket,
        events=visible_events(current_user, ticket),
        allowed=ticket_service.allowed_statuses(current_user, ticket),
        categories=active_categories(),
        staff=assignable_staff(),
        reply_form=form,
        conflict=conflict,
        errors=_errors_of(refused) if refused is not None and conflict is None else {},
    )


def _partial(template: str, context: dict, refused: ServiceError | None):
    """An htmx response: the partial plus the queue counters out of band, with the refusal's status code."""
    context.update(counts=queue_counts(current_user), views=queue_views(current_user), current_view="")
    return render_template(template, **context), (refused.status_code if refused is not None else 200)


def _reply_response(ticket: Ticket, form: AgentReplyForm, refused: ServiceError | None, *, status: int = 200):
    if isinstance(refused, Conflict):
        form.body.errors = ["Someone saved this ticket at the same moment; your message was kept — send it again."]
    elif refused is not None:
        for name, message in (refused.fields or {"body": refused.message}).items():
            if hasattr(form, name):
                getattr(form, name).errors = [message]
    status = refused.status_code if refused is not None else status
    if not htmx:
        return render_template("agent/ticket.html", **_ticket_context(ticket, reply_form=form)), status
    context = _ticket_context(ticket, reply_form=form)
    body, _code = _partial("agent/partials/_reply_update.html", context, None)
    return body, status
