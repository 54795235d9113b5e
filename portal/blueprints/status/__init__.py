"""The ``status`` blueprint. The public status page: components, incidents, maintenance, history, feed and
subscriptions (no session needed).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("status", __name__)
