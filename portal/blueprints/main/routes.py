"""Start page, health check and the site icon."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, send_from_directory, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.extensions import db


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
    return jsonify({"status": "ok" if code == 200 else "degraded", "database": database}), code


def favicon():
    """Browsers ask for /favicon.ico whatever the page says: answer with the icon from static/, cached for a day."""
    return send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86_400
    )
