"""Error pages and JSON errors: bad input is a clear 4xx, never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from portal.client import request_id
from portal.extensions import db
from portal.services.errors import ServiceError


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def json_error(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}, "request_id": request_id()}}
    return jsonify(body), status


# SQLSTATEs of PostgreSQL errors that pass: serialization failure, deadlock, lock not available, query canceled
# (lock or statement timeout), and the connection classes (server restarting, too many connections).
_TRANSIENT_SQLSTATES = ("40001", "40P01", "55P03", "57014", "57P03", "53300")
BUSY_MESSAGE = "The database is busy right now; nothing was saved. Please try again in a few seconds."
RETRY_AFTER_SECONDS = 5


def is_transient_database_error(exc: BaseException | None) -> bool:
    """A database that is busy or briefly unreachable (SQLite locked, PostgreSQL lock/serialization/connection
    trouble), as opposed to a bug: worth a 503 with Retry-After rather than a 500."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if state and (state in _TRANSIENT_SQLSTATES or state.startswith("08")):
        return True
    text = str(original).lower()
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def _busy():
    db.session.rollback()
    if wants_json():
        response, status = json_error(503, "database_busy", BUSY_MESSAGE)
    else:
        response, status = render_template("errors/error.html", code=503, message=BUSY_MESSAGE), 503
    return response, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def init_app(app: Flask) -> None:
    app.jinja_env.globals["request_id"] = request_id  # errors/error.html shows it (support can find the log line)

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        db.session.rollback()
        if wants_json():
            return json_error(exc.status_code, exc.code, exc.message, exc.fields)
        return render_template("errors/error.html", code=exc.status_code, message=exc.message), exc.status_code

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        message = "Your form expired or was sent from elsewhere. Reload the page and try again."
        if wants_json():
            return json_error(400, "csrf_failed", message)
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if is_transient_database_error(getattr(exc, "original_exception", None)):  # e.g. locked at commit
            app.logger.warning("database busy: %s", exc.original_exception)
            return _busy()
        code = exc.code or 500
        if wants_json():
            names = {
                400: "bad_request",
                401: "unauthorized",
                403: "forbidden",
                404: "not_found",
                405: "method_not_allowed",
                413: "too_large",
                415: "unsupported_media_type",
                429: "rate_limited",
            }
            return json_error(code, names.get(code, "error"), exc.description or exc.name)
        return render_template("errors/error.html", code=code, message=exc.description or exc.name), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_transient_database_error(exc):
            app.logger.warning("database busy: %s", exc)
            return _busy()
        db.session.rollback()
        app.logger.exception("Unhandled error")
        if app.testing and app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        if wants_json():
            return json_error(500, "internal_error", "Something went wrong on our side; nothing was saved.")
        return render_template(
            "errors/error.html", code=500, message="Something went wrong on our side; nothing was saved."
        ), 500
