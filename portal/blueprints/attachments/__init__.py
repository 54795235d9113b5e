"""The ``attachments`` blueprint. Attachment downloads, checked by the same rule as the ticket event they belong to.

``GET /attachments/<token>/<name>``: signed-in users only (anonymous → the sign-in page); someone who may not read
the file gets a 404, as for a file that does not exist. The response can never run in the portal's origin: the
detected type (text always as plain text), ``nosniff``, a sandboxing CSP, and ``attachment`` unless the file is a
raster image. Also the template global the timeline's file slot uses (one query per page)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, g, request, send_file
from flask_login import current_user, login_required

from portal.models import Attachment
from portal.services import attachments as attachment_service
from portal.services.errors import NotFound

bp = Blueprint("attachments", __name__)

DOWNLOAD_CSP = "default-src 'none'; sandbox"
# The forms and API calls that take files; their multipart bodies may be as large as the attachment caps allow.
UPLOAD_ENDPOINTS = frozenset({"customer.new_ticket", "customer.reply", "agent.reply", "api.create_ticket", "api.reply"})
FORM_ALLOWANCE = 1024 * 1024  # the text fields and multipart framing beside the files


@bp.app_url_value_preprocessor
def upload_body_limit(endpoint: str | None, _values: dict | None) -> None:
    """``MAX_CONTENT_LENGTH`` bounds every body; an upload may carry ``ATTACHMENT_MAX_TOTAL_BYTES`` of files, so
    that a file over a cap gets the form's message (with the text kept) rather than a bare 413. Runs before the
    before-request checks, which read the form."""
    if endpoint not in UPLOAD_ENDPOINTS or request.mimetype != "multipart/form-data":
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    wanted = int(current_app.config["ATTACHMENT_MAX_TOTAL_BYTES"]) + FORM_ALLOWANCE
    if limit is not None and limit < wanted:
        request.max_content_length = wanted


def content_disposition(attachment: Attachment) -> str:
    """``attachment`` (``inline`` for a raster image) with an ASCII ``filename`` and the exact UTF-8 ``filename*``."""
    kind = "inline" if attachment_service.is_inline(attachment) else "attachment"
    name = attachment.filename
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name) or "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(attachment: Attachment) -> Response:
    """Serve ``attachment`` inert (the caller checked the reader): shared by the page route and the API."""
    try:
        handle = attachment_service.open_file(attachment)
    except NotFound:
        abort(404)
    response = send_file(
        handle,
        mimetype=attachment_service.served_type(attachment),
        as_attachment=False,
        etag=attachment.sha256,
        conditional=True,
        max_age=0,
        last_modified=attachment.created_at,
    )
    response.headers["Content-Type"] = attachment_service.served_type(attachment)  # as is (no charset added twice)
    response.headers["Content-Disposition"] = content_disposition(attachment)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["Cache-Control"] = "private, max-age=0"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.route("/<token>/<path:name>", methods=["GET"])
@login_required
def download(token: str, name: str):
    attachment = attachment_service.by_token(token)
    if attachment is None or not attachment_service.can_read(current_user, attachment):
        abort(404)
    return file_response(attachment)


@bp.app_template_global()
def event_attachments(event) -> list[Attachment]:
    """The files of a timeline event. The first call of a request loads the files of every event of the ticket
    being shown (one query) and keeps them on ``g``; anonymous viewers get nothing."""
    if event is None or getattr(event, "id", None) is None or not current_user.is_authenticated:
        return []
    cache: dict[int, dict[int, list[Attachment]]] = g.setdefault("_event_attachments", {})
    ticket_id = event.ticket_id
    if ticket_id not in cache:
        cache[ticket_id] = attachment_service.for_ticket_events(ticket_id)
    files = cache[ticket_id].get(event.id, [])
    if current_user.is_staff:
        return files
    return [f for f in files if attachment_service.visible_in_timeline(current_user, f, event)]


@bp.app_template_global()
def attachment_url(attachment: Attachment) -> str:
    return attachment_service.download_url(attachment)


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    return attachment_service.human_size(int(size or 0))


@bp.app_template_global()
def attachment_is_image(attachment: Attachment) -> bool:
    return attachment_service.is_inline(attachment)


@bp.app_template_global()
def attachment_limits_text() -> str:
    return attachment_service.limits_text()
