"""Post-mortem pages: read by staff, edited by managers and senior agents (the service checks it again)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import attempt, staff_required
from portal.services.incidents import postmortem as service
from portal.services.queries import assignable_staff


def editors_only(view: Callable) -> Callable:
    @wraps(view)
    @staff_required
    def wrapper(*args, **kwargs):
        if not service.can_edit(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _incident(incident_id: int):
    incident, refused = attempt(lambda: service.get_incident(incident_id))
    if refused is not None:
        abort(404)
    return incident


@staff_required
def index():
    return render_template(
        "postmortems/index.html", rows=service.list_post_mortems(), waiting=service.resolved_without_post_mortem()
    )


def _render(incident, errors: dict | None = None, status: int = 200, body: str | None = None):
    post_mortem = service.for_incident(incident)
    return render_template(
        "postmortems/page.html",
        incident=incident,
        post_mortem=post_mortem,
        impact=service.impact(incident),
        timeline=service.timeline(incident),
        actions=service.actions(post_mortem) if post_mortem else [],
        staff=assignable_staff(),
        can_edit=service.can_edit(current_user),
        errors=errors or {},
        body=body if body is not None else (post_mortem.body if post_mortem else ""),
    ), status


@staff_required
def page(incident_id: int):
    return _render(_incident(incident_id))


def _done(incident_id: int, message: str):
    flash(message, "success")
    return redirect(url_for("postmortems.page", incident_id=incident_id), 303)


def _refused(incident_id: int, refused, body: str | None = None):
    errors = {"post_mortem": refused.message, **(refused.fields or {})}
    return _render(_incident(incident_id), errors, refused.status_code, body)


@editors_only
def create(incident_id: int):
    incident = _incident(incident_id)
    _pm, refused = attempt(lambda: service.create(current_user, incident))
    if refused is not None:
        return _refused(incident_id, refused)
    return _done(incident_id, "Post-mortem started from the template.")


def _post_mortem(incident_id: int):
    post_mortem = service.for_incident(_incident(incident_id))
    if post_mortem is None:
        abort(404)
    return post_mortem


@editors_only
def save(incident_id: int):
    post_mortem = _post_mortem(incident_id)
    body = request.form.get("body", "")
    _pm, refused = attempt(
        lambda: service.save(current_user, post_mortem, body=body, expected_version=request.form.get("version"))
    )
    if refused is not None:
        return _refused(incident_id, refused, body)
    return _done(incident_id, "Post-mortem saved.")


@editors_only
def publish(incident_id: int):
    post_mortem = _post_mortem(incident_id)
    public = request.form.get("public") == "1"
    _pm, refused = attempt(
        lambda: service.publish(current_user, post_mortem, public=public, expected_version=request.form.get("version"))
    )
    if refused is not None:
        return _refused(incident_id, refused)
    return _done(incident_id, "Published on the status page too." if public else "Published (staff only).")


@editors_only
def add_action(incident_id: int):
    post_mortem = _post_mortem(incident_id)
    _item, refused = attempt(
        lambda: service.add_action(
            current_user, post_mortem, title=request.form.get("title", ""), owner_id=request.form.get("owner_id")
        )
    )
    if refused is not None:
        return _refused(incident_id, refused)
    return _done(incident_id, "Action item added.")


@editors_only
def action_ticket(incident_id: int, action_id: int):
    post_mortem = _post_mortem(incident_id)
    ticket, refused = attempt(
        lambda: service.make_engineering_ticket(current_user, post_mortem, service.get_action(post_mortem, action_id))
    )
    if refused is not None:
        return _refused(incident_id, refused)
    return _done(incident_id, f"Engineering ticket {ticket.reference} filed.")


@editors_only
def action_done(incident_id: int, action_id: int):
    post_mortem = _post_mortem(incident_id)
    _item, refused = attempt(
        lambda: service.set_done(
            current_user, service.get_action(post_mortem, action_id), request.form.get("done") == "1"
        )
    )
    if refused is not None:
        return _refused(incident_id, refused)
    return _done(incident_id, "Action item updated.")
