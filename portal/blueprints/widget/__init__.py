"""The ``widget`` blueprint: /widget.js (the embed script), the widget frame and its partials, and the admin page
for sites, keys and origins (/admin/widget). (Being built: the routes below are placeholders.)"""

from __future__ import annotations

from flask import Blueprint, abort

bp = Blueprint("widget", __name__)


@bp.get("/widget.js")
def script():
    abort(404)


@bp.get("/widget/frame")
def frame():
    abort(404)


@bp.get("/admin/widget")
def sites():
    abort(404)
