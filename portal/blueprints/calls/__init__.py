"""The ``calls`` blueprint: phone calls logged by agents (/agent/calls). (Being built: placeholders.)"""

from __future__ import annotations

from flask import Blueprint, abort

bp = Blueprint("calls", __name__)


@bp.get("/agent/calls/new")
def new():
    abort(404)
