"""The ``webhooks`` blueprint: outgoing webhook subscriptions and their delivery log (/admin/webhooks).
(Being built: placeholders.)"""

from __future__ import annotations

from flask import Blueprint, abort

bp = Blueprint("webhooks", __name__)


@bp.get("/admin/webhooks")
def index():
    abort(404)
