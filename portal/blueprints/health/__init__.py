"""The ``health`` blueprint. The portal's own health: readiness, the ops health page and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("health", __name__)
