"""Logging phone calls: from the agent ticket page (an htmx box beside the timeline), from the "new call" page
(find the caller by number or address, then log), and the list of recent calls. Staff only, every route."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.agent.tickets import _partial, _ticket_context
from portal.blueprints.calls.forms import CallForm, NewCallForm
from portal.blueprints.common import attempt, attempt_on_ticket, make_page, page_number, staff_required
from portal.extensions import db, htmx
from portal.models import STAFF_ROLES, Ticket, User
from portal.models.phone import CallOutcome
from portal.params import choice_param, id_param, str_param
from portal.services import phone as phone_service
from portal.services.access import get_ticket_for
from portal.services.errors import NotFound, ServiceError, ValidationFailed


def ticket_calls(ticket: Ticket) -> list:
    """The calls of the ticket on the page, loaded once per request (the box may be rendered twice)."""
    cache = g.setdefault("ticket_calls", {})
    if ticket.id not in cache:
        cache[ticket.id] = phone_service.calls_for_ticket(ticket)
    return cache[ticket.id]


CALL_PREFIX = "call"  # the ticket page has a reply form too: the call's fields are call-number, call-notes, ...


def blank_call_form() -> CallForm:
    return CallForm(formdata=None, prefix=CALL_PREFIX)


def _call_fields(form: CallForm) -> dict:
    return dict(
        direction=form.direction.data or "",
        number=form.number.data or "",
        duration=form.duration.data or "",
        outcome=form.outcome.data or "",
        customer_answered=bool(form.customer_answered.data),
        summary=form.summary.data or "",
        notes=form.notes.data or "",
        remember_number=bool(form.remember_number.data),
    )


def _show_errors(form: CallForm, refused: ServiceError) -> dict[str, str]:
    """The refusal's messages on the form's fields; the ones for no field are returned for the top of the form."""
    other = {}
    for name, message in (refused.fields or {"form": refused.message}).items():
        field = getattr(form, name, None) if name != "form" else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [message]
        else:
            other[name] = message
    return other


# --------------------------------------------------------------------------- the ticket page's box


@staff_required
def log_on_ticket(reference: str):
    form = CallForm(prefix=CALL_PREFIX)
    if not form.validate_on_submit():  # the CSRF token only: the fields are the service's to judge
        ticket = get_ticket_for(current_user, reference)
        return _box_response(ticket, form, {"form": "The form expired: reload the page."}, status=400)
    ticket, call, refused = attempt_on_ticket(
        reference, lambda t: phone_service.log_call(current_user, caller=None, ticket=t, **_call_fields(form))
    )
    if refused is not None:
        return _box_response(ticket, form, _show_errors(form, refused), status=refused.status_code)
    if not htmx:
        return redirect(url_for("agent.ticket", reference=ticket.reference, _anchor=f"event-{call.event_id}"), 303)
    g.pop("ticket_calls", None)
    return _box_response(ticket, blank_call_form(), {}, notice="Call logged.")


def _box_response(ticket: Ticket, form: CallForm, errors: dict, *, status: int = 200, notice: str = ""):
    context = _ticket_context(ticket)
    context.update(call_form=form, call_errors=errors, call_notice=notice)
    if not htmx:
        return render_template("agent/ticket.html", **context), status
    body, _code = _partial("calls/partials/_call_update.html", context, None)
    return body, status


# --------------------------------------------------------------------------- the new-call page


def _lookup(query: str) -> tuple[list[User], str]:
    """Customers behind ``query`` (a number or an address) and a message when there is nothing to show."""
    if not query:
        return [], ""
    if not phone_service.looks_like_email(query) and phone_service.normalize_number(query) is None:
        return [], phone_service.BAD_NUMBER
    callers = [user for user in phone_service.find_callers(query) if user.is_customer]
    return callers, "" if callers else "No customer has this number or address."


@staff_required
def new():
    query = str_param("q", max_length=320)
    callers, lookup_message = _lookup(query)
    caller_id = id_param("caller", lenient=True)
    caller = db.session.get(User, caller_id) if caller_id else None
    if caller is not None and not (caller.is_customer and caller.is_active):
        caller = None
    if caller is None and len(callers) == 1:
        caller = callers[0]
    form = NewCallForm(formdata=None)
    if caller is not None:
        form.caller.data = str(caller.id)
        if query and not phone_service.looks_like_email(query):
            form.number.data = query
        elif caller.phone:
            form.number.data = caller.phone
    return _new_page(form, query, callers, lookup_message, caller, {})


def _new_page(form, query, callers, lookup_message, caller, errors, status: int = 200):
    tickets = phone_service.open_tickets_of(caller) if caller is not None else []
    form.ticket.choices = [("new", "Open a new phone ticket")] + [
        (t.reference, f"{t.reference} · {t.subject} ({t.status.short_label})") for t in tickets
    ]
    return (
        render_template(
            "calls/new.html",
            form=form,
            query=query,
            callers=callers,
            lookup_message=lookup_message,
            caller=caller,
            errors=errors,
        ),
        status,
    )


@staff_required
def create():
    form = NewCallForm()
    caller_id = id_param("caller", lenient=True, args=request.form)
    caller = db.session.get(User, caller_id) if caller_id else None
    query = (request.form.get("q") or "").strip()[:320]
    callers, lookup_message = _lookup(query)
    if not form.validate_on_submit():
        return _new_page(
            form, query, callers, lookup_message, caller, {"form": "The form expired: send it again."}, 400
        )

    def log():
        ticket = None
        choice = (form.ticket.data or "new").strip()
        if choice != "new":
            try:
                ticket = get_ticket_for(current_user, choice)
            except NotFound:
                raise ValidationFailed("The call was not logged.", {"ticket": "No such ticket."}) from None
        return phone_service.log_call(
            current_user,
            caller=caller,
            ticket=ticket,
            subject=form.subject.data or "",
            priority=form.priority.data or "medium",
            **_call_fields(form),
        )

    call, refused = attempt(log)
    if refused is not None:
        if caller is not None:
            caller = db.session.get(User, caller.id)
        return _new_page(form, query, callers, lookup_message, caller, _show_errors(form, refused), refused.status_code)
    return redirect(url_for("agent.ticket", reference=call.ticket.reference, _anchor=f"event-{call.event_id}"), 303)


# --------------------------------------------------------------------------- the list


@staff_required
def index():
    agent_id = id_param("agent", lenient=True)
    outcome_value = choice_param("outcome", [o.value for o in CallOutcome])
    outcome = CallOutcome(outcome_value) if outcome_value else None
    number = page_number()
    size = current_app.config["PHONE_CALLS_PER_PAGE"]
    rows = phone_service.recent_calls(
        current_user, agent_id=agent_id, outcome=outcome, offset=(number - 1) * size, limit=size + 1
    )
    staff = db.session.scalars(
        select(User).where(User.role.in_(STAFF_ROLES), User.is_active_account.is_(True)).order_by(User.name)
    ).all()
    return render_template(
        "calls/index.html",
        page=make_page(rows, number, size),
        staff=staff,
        agent_id=agent_id,
        outcome=outcome_value or "",
        outcomes=list(CallOutcome),
    )
