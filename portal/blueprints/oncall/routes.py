"""On-call views. The schedule and the hotline form are for staff (customers get 404, as for every ops page they
cannot tell exists); overrides and rotation entries are edited by managers and admins; the acknowledgement link
is authenticated by its signed token (a GET only shows the button, so a mail scanner that follows links
acknowledges nothing); the webhook by its HMAC signature."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.blueprints.common import attempt
from portal.errors import json_error
from portal.extensions import db, htmx
from portal.models import Ticket
from portal.services import roster
from portal.services.errors import ServiceError
from portal.services.paging import hotline, pages
from portal.services.paging import schedule as sched


def _staff(user) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def staff_only(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not _staff(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def editors_only(view: Callable) -> Callable:
    @wraps(view)
    @staff_only
    def wrapper(*args, **kwargs):
        if not sched.can_edit(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- the ticket page's slot


def ticket_page(ticket: Ticket):
    """The page of this ticket for the slot partial (staff only; one query per request)."""
    if not _staff(current_user):
        return None
    cache = g.setdefault("oncall_ticket_pages", {})
    if ticket.id not in cache:
        cache[ticket.id] = pages.page_of_ticket(ticket)
    return cache[ticket.id]


# --------------------------------------------------------------------------- schedule


def _render_schedule(errors: dict | None = None, status: int = 200, form: dict | None = None):
    return render_template(
        "oncall/schedule.html",
        covers=sched.now_and_next(),
        rotation=sched.upcoming_rotation(),
        overrides=sched.upcoming_overrides(),
        open_pages=pages.open_pages(),
        staff=sched.pageable_staff(),
        can_edit=sched.can_edit(current_user),
        errors=errors or {},
        form=form or {},
    ), status


@staff_only
def schedule():
    return _render_schedule()


@editors_only
def add_override():
    form = request.form
    _o, refused = attempt(
        lambda: sched.add_override(
            current_user,
            level=form.get("level", ""),
            user_id=form.get("user_id"),
            starts=form.get("starts_at", ""),
            ends=form.get("ends_at", ""),
            note=form.get("note", ""),
            zone=current_user.timezone,
        )
    )
    if refused is not None:
        return _render_schedule(refused.fields or {"form": refused.message}, refused.status_code, dict(form))
    flash("Override added.", "success")
    return redirect(url_for("oncall.schedule"), 303)


@editors_only
def remove_override(override_id: int):
    _r, refused = attempt(lambda: sched.remove_override(current_user, override_id))
    if refused is not None:
        return _render_schedule({"form": refused.message}, refused.status_code)
    flash("Override removed.", "success")
    return redirect(url_for("oncall.schedule"), 303)


@editors_only
def add_rotation():
    form = request.form
    _e, refused = attempt(
        lambda: roster.add_on_call(
            form.get("user_id"),
            form.get("starts_at", ""),
            form.get("ends_at", ""),
            zone=current_user.timezone,
            level=form.get("level", ""),
        )
    )
    if refused is not None:
        return _render_schedule(refused.fields or {"form": refused.message}, refused.status_code, dict(form))
    flash("Rotation entry added.", "success")
    return redirect(url_for("oncall.schedule"), 303)


# --------------------------------------------------------------------------- the hotline form


@staff_only
def hotline_form():
    return render_template("oncall/hotline_form.html", errors={}, form={})


@staff_only
def hotline_file():
    form = request.form

    def file():
        call = hotline.manual_call(
            form.get("number", ""), form.get("caller_name", ""), form.get("caller_email", ""), form.get("summary", "")
        )
        return hotline.take_call(call, taken_by=current_user)

    result, refused = attempt(file)
    if refused is not None:
        errors = dict(refused.fields or {"form": refused.message})
        if "from" in errors:
            errors["number"] = errors.pop("from")
        return render_template("oncall/hotline_form.html", errors=errors, form=dict(form)), refused.status_code
    record, _new = result
    flash(f"Critical ticket filed; on call is being paged ({record.requester_detail})", "success")
    return redirect(url_for("agent.ticket", reference=record.ticket.reference), 303)


# --------------------------------------------------------------------------- acknowledgements


@staff_only
def ack_button(page_id: int):
    page = pages.get_page(page_id)
    _done, refused = attempt(lambda: pages.acknowledge(page, current_user, via="on the ticket page"))
    if refused is not None:
        abort(refused.status_code)
    page = pages.get_page(page_id)
    if htmx:
        g.pop("oncall_ticket_pages", None)
        return render_template("agent/partials/_ticket_pages.html", ticket=page.ticket)
    flash("Page acknowledged.", "success")
    back = request.form.get("next") == "schedule"
    if back:
        return redirect(url_for("oncall.schedule"), 303)
    return redirect(url_for("agent.ticket", reference=page.ticket.reference), 303)


def _token_attempt(page_id: int, token: str):
    try:
        return pages.attempt_for_token(page_id, token)
    except ServiceError as exc:
        abort(404, exc.message)


def ack_link(page_id: int, token: str):
    """The link in the email / SMS: shows the page and a button; changes nothing."""
    found = _token_attempt(page_id, token)
    return render_template("oncall/ack.html", attempt=found, page=found.page, token=token, done=None)


def ack_link_confirm(page_id: int, token: str):
    found = _token_attempt(page_id, token)
    _done, refused = attempt(lambda: pages.acknowledge(found.page, found.user, via="with the link in the page"))
    if refused is not None:
        abort(refused.status_code, refused.message)
    page = pages.get_page(page_id)
    return render_template("oncall/ack.html", attempt=found, page=page, token=token, done=True)


# --------------------------------------------------------------------------- the provider's webhook


def calls():
    """POST /api/v1/hotline/calls: the signature first (401, nothing read or written), then the payload (400/422),
    then the call: 201 with the new ticket, 200 with the first one for a call id seen before."""
    raw = request.get_data(cache=True)
    try:
        hotline.verify_signature(
            raw, request.headers.get(hotline.TIMESTAMP_HEADER), request.headers.get(hotline.SIGNATURE_HEADER)
        )
    except hotline.SignatureRefused as exc:
        return _json_error(401, exc.code, exc.message)
    data = request.get_json(silent=True)
    if data is None:
        return _json_error(400, "bad_request", "The body must be JSON (Content-Type: application/json).")
    try:
        record, new = hotline.take_call(hotline.parse_call(data))
    except ServiceError as exc:
        db.session.rollback()
        return _json_error(exc.status_code, exc.code, exc.message, exc.fields)
    page = pages.page_of_ticket(record.ticket) if record.ticket is not None else None
    body = {
        "call_id": record.call_id,
        "duplicate": not new,
        "ticket": {"id": record.ticket_id, "reference": record.ticket.reference if record.ticket else None},
        "requester": {"id": record.requester_id, "how": record.requester_detail},
        "page": {
            "id": page.id if page else None,
            "state": page.state.value if page else None,
            "paged": [{"name": a.user.name, "step": a.step, "channels": a.channels} for a in page.attempts]
            if page
            else [],
        },
    }
    return jsonify(body), 201 if new else 200


def _json_error(status: int, code: str, message: str, fields: dict | None = None):
    return json_error(status, code, message, fields)
