"""Start page and health check."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, url_for
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
