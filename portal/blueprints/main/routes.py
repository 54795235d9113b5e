"""Start page, health check and the site icon."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.extensions import db, limiter


def index():
    if current_user.is_authenticated:
        return redirect(url_for("agent.queue" if current_user.is_staff else "customer.home"))
    return render_template("main/index.html")


def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = {"status": "ok", "dialect": db.engine.dialect.name}
        code = 200
    except Exception as exc:  # the point of this endpoint is to report, not to fail
        db.session.rollback()
        database = {"status": "unavailable", "error": exc.__class__.__name__}
        code = 503
    limits = _rate_limit_health()
    status = "ok" if code == 200 and limits["status"] == "ok" else "degraded"
    return jsonify({"status": status, "database": database, "rate_limits": limits}), code


def _rate_limit_health() -> dict:
    """Where login and API limits are counted: the configured store, or the in-process fallback while it is down
    (the page still answers 200: sign-in works, limits are per process until the store is back)."""
    uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    scheme = uri.split("://", 1)[0]
    if scheme == "memory":
        return {"status": "ok", "storage": "memory"}
    if limiter.storage.check():
        return {"status": "ok", "storage": scheme}
    return {"status": "fallback", "storage": "memory", "configured": scheme}


def favicon():
    """Browsers ask for /favicon.ico whatever the page links: the icon shipped in static/, cached for a day. Served
    from memory (read once), so no request, even one the browser abandons, holds the file open."""
    response = current_app.response_class(_read(Path(current_app.static_folder) / "favicon.ico"))
    response.mimetype = "image/vnd.microsoft.icon"
    response.cache_control.public = True
    response.cache_control.max_age = 86_400
    response.add_etag()
    return response.make_conditional(request)


@lru_cache(maxsize=4)
def _read(path: Path) -> bytes:
    return path.read_bytes()
