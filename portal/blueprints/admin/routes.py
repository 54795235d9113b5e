"""Admin: organizations, users and roles, categories."""
from __future__ import annotations

from flask import Blueprint, render_template

from portal.blueprints.common import admin_required

bp = Blueprint("admin", __name__)


@bp.get("/")
@admin_required
def index():
    return render_template("admin/index.html")
