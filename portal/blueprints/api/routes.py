"""JSON API v1 — the base of the in-app support button. Bearer tokens only (never cookies), same services and
access rules as the pages. Errors: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, request, url_for
from sqlalchemy import select

from portal.blueprints.api.auth import check_token
from portal.blueprints.attachments import file_response
from portal.errors import json_error
from portal.extensions import db
from portal.models import Channel, Priority, Status, Ticket, TicketEvent, User, format_reference
from portal.params import DB_BIGINT_MAX, InvalidParameter, choice_param, int_param, json_int, page_param, str_param
from portal.services import attachments as attachment_service
from portal.services import csat as csat_service
from portal.services import tickets as ticket_service
from portal.services.access import can_read_ticket, get_ticket_for, visible_events
from portal.services.accounts import find_user_by_email
from portal.services.errors import Conflict, NotFound, ValidationFailed
from portal.services.queries import TicketFilters, list_tickets
from portal.services.sla import ticket_sla

CREATE_FIELDS = {"subject", "description", "category", "priority"}
STAFF_CREATE_FIELDS = CREATE_FIELDS | {"requester_email", "channel"}
PATCH_FIELDS = {"version", *ticket_service.EDITABLE_FIELDS}
REPLY_FIELDS = {"body", "internal", "status"}
MAX_PER_PAGE = 100


def token_required(view: Callable) -> Callable:
    """A usable token (else 401) whose scope allows this method (else 403); its user in ``g.api_user``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        refused = check_token()
        if refused is not None:
            return refused
        return view(*args, **kwargs)

    return wrapper


def _json_body(allowed: set[str]) -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object with Content-Type: application/json.", {})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationFailed("Unknown fields.", dict.fromkeys(unknown, "Unknown or not allowed field."))
    return data


def _body(allowed: set[str]) -> tuple[dict[str, Any], list]:
    """The fields and files of a JSON body, or of a multipart/form-data one (fields plus files "attachments")."""
    if request.mimetype != "multipart/form-data":
        return _json_body(allowed), []
    unknown = sorted(set(request.form) - allowed)
    if unknown:
        raise ValidationFailed("Unknown fields.", dict.fromkeys(unknown, "Unknown or not allowed field."))
    unknown_files = sorted(set(request.files) - {attachment_service.FIELD})
    if unknown_files:
        raise ValidationFailed("Unknown file fields.", dict.fromkeys(unknown_files, 'Send files as "attachments".'))
    data: dict[str, Any] = request.form.to_dict()
    if "internal" in data:
        data["internal"] = {"true": True, "false": False}.get(data["internal"].strip().lower(), data["internal"])
    files = request.files.getlist(attachment_service.FIELD)
    problems = attachment_service.check_uploads(files)  # refused before anything is written
    if problems:
        raise ValidationFailed(problems[attachment_service.FIELD], problems)
    return data, files


def attachment_json(attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "event_id": attachment.event_id,
        "created_at": _iso(attachment.created_at),
        "url": url_for("api.download_attachment", token=attachment.token, _external=True),
    }


def _person(user) -> dict | None:
    return (
        None
        if user is None
        else {"id": user.id, "name": user.name, "email": user.email}
        if g.api_user.is_staff
        else {"id": user.id, "name": user.name}
    )


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "reference": ticket.reference,
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "description": ticket.description,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "tier": ticket.tier.value,
        "channel": ticket.channel.value,
        "category": ticket.category.slug if ticket.category else None,
        "requester": _person(ticket.requester),
        "organization": {"id": ticket.organization.id, "name": ticket.organization.name}
        if ticket.organization
        else None,
        "assignee": _person(ticket.assignee),
        "follow_up_of": format_reference(ticket.follow_up_of_id) if ticket.follow_up_of_id else None,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "first_response_at": _iso(ticket.first_response_at),
        "solved_at": _iso(ticket.solved_at),
        "first_response_due": _iso(ticket.first_response_due),
        "resolution_due": _iso(ticket.resolution_due),
        "sla": ticket_sla(ticket),
        "csat": csat_service.summary_for(g.api_user, ticket),
        "version": ticket.version,
        "url": url_for("api.get_ticket", reference=ticket.reference, _external=True),
    }


def event_json(event: TicketEvent) -> dict[str, Any]:
    data = {
        "id": event.id,
        "kind": event.kind.value,
        "author": _person(event.author),
        "created_at": _iso(event.created_at),
        "ticket_version": event.ticket_version,
    }
    if event.kind.value == "field_change":
        data.update(field=event.field, old=event.old_value, new=event.new_value)
        if event.field == "tier" and event.body:
            data["reason"] = event.body  # the escalation's reason label (and external issue)
    else:
        data.update(body=event.body, internal=event.kind.value == "internal_note")
    return data


@token_required
def create_ticket():
    actor = g.api_user
    data, files = _body(STAFF_CREATE_FIELDS if actor.is_staff else CREATE_FIELDS)
    ticket = ticket_service.create_ticket(
        actor,
        subject=data.get("subject"),
        description=data.get("description"),
        category=data.get("category"),
        priority=data.get("priority", Priority.medium.value),
        channel=data.get("channel", Channel.api.value),
        requester=_requester(data.get("requester_email")),
    )
    stored = attachment_service.store_uploads(files, uploader=actor, ticket=ticket)
    response = jsonify({"ticket": ticket_json(ticket), "attachments": [attachment_json(a) for a in stored]})
    response.headers["Location"] = url_for("api.get_ticket", reference=ticket.reference)
    return response, 201


def _requester(email) -> User | None:
    """The customer a staff member files for (``requester_email``), or None for the caller."""
    if not email:
        return None
    requester = find_user_by_email(str(email))
    if requester is None:
        raise ValidationFailed("Unknown requester.", {"requester_email": "No user with this email."})
    return requester


@token_required
def list_tickets_():
    actor = g.api_user
    _check_choice("status", [m.value for m in Status] + ["open_any"])
    _check_choice("priority", [m.value for m in Priority])
    filters = TicketFilters.from_args(request.args, default_view="all")
    if filters.view not in ("all", "mine_customer") and not actor.is_staff:
        filters.view = "all"
    page, per_page = _paging()
    if "external_id" in request.args:
        return _by_external_id(actor, str_param("external_id", max_length=100, lenient=False))
    rows = list_tickets(actor, filters, page, per_page, full=True)
    tickets = [ticket_json(t) for t in rows[:per_page]]
    return jsonify({"tickets": tickets, "page": page, "per_page": per_page, "has_next": len(rows) > per_page})


def _by_external_id(actor, external_id: str):
    """``?external_id=ZD-48211``: the ticket imported under that id, when the caller may see it (else none)."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.external_id == external_id)) if external_id else None
    found = [ticket_json(ticket)] if ticket is not None and can_read_ticket(actor, ticket) else []
    return jsonify({"tickets": found, "page": 1, "per_page": 1, "has_next": False})


def _check_choice(name: str, allowed: list[str]) -> None:
    try:
        choice_param(name, allowed, lenient=False)
    except InvalidParameter as exc:
        raise ValidationFailed(f"Unknown {name}.", exc.fields) from None


def _paging() -> tuple[int, int]:
    try:
        page = page_param("page", 1, lenient=False)
        per_page = min(int_param("per_page", 25, lenient=False), MAX_PER_PAGE)  # more than the maximum: the maximum
    except InvalidParameter as exc:
        raise ValidationFailed(exc.message, exc.fields) from None
    return page, per_page


@token_required
def get_ticket(reference: str):
    ticket = get_ticket_for(g.api_user, reference)
    return jsonify(
        {"ticket": ticket_json(ticket), "events": [event_json(e) for e in visible_events(g.api_user, ticket)]}
    )


@token_required
def reply(reference: str):
    actor = g.api_user
    ticket = get_ticket_for(actor, reference)
    data, files = _body(REPLY_FIELDS)
    internal = data.get("internal", False)
    if not isinstance(internal, bool):
        raise ValidationFailed("internal must be true or false.", {"internal": "Use a boolean."})
    result = ticket_service.reply_to_ticket(
        actor, ticket, data.get("body"), internal=internal, status=data.get("status")
    )
    stored = [
        attachment_json(a)
        for a in attachment_service.store_reply_uploads(files, uploader=actor, ticket=ticket, result=result)
    ]
    if isinstance(result, Ticket):  # a reply to a closed ticket opened a follow-up
        return jsonify({"ticket": ticket_json(result), "follow_up_of": ticket.reference, "attachments": stored}), 201
    return jsonify({"event": event_json(result), "ticket": ticket_json(ticket), "attachments": stored}), 201


@token_required
def update_ticket(reference: str):
    actor = g.api_user
    ticket = get_ticket_for(actor, reference)
    data = _json_body(PATCH_FIELDS)
    try:
        version = json_int(data.pop("version", None), "version", min=1, max=DB_BIGINT_MAX)
    except ValidationFailed:
        raise ValidationFailed("version is required.", {"version": "Send the integer version you last read."}) from None
    changes = ticket_service.update_ticket(actor, ticket, expected_version=version, **data)
    return jsonify(
        {"ticket": ticket_json(ticket), "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes]}
    )


@token_required
def list_attachments(reference: str):
    ticket = get_ticket_for(g.api_user, reference)
    return jsonify({"attachments": [attachment_json(a) for a in attachment_service.for_ticket(g.api_user, ticket)]})


@token_required
def download_attachment(token: str):
    """The file, served as the download page serves it; 404 for a file the token's user may not read."""
    attachment = attachment_service.by_token(token)
    if attachment is None or not attachment_service.can_read(g.api_user, attachment):
        raise NotFound("No such attachment.")
    return file_response(attachment)


def conflict(exc: Conflict):
    """A refused stale write: 409 with the error and the ticket as it is now (the caller's next version)."""
    db.session.rollback()
    response, status = json_error(exc.status_code, exc.code, exc.message, exc.fields)
    body = response.get_json()
    actor = getattr(g, "api_user", None)
    try:
        fresh = get_ticket_for(actor, exc.ticket_id) if actor is not None else None
    except NotFound:
        fresh = None
    if fresh is not None:
        body["ticket"] = ticket_json(fresh)
    return jsonify(body), status
