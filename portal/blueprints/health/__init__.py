"""The ``health`` blueprint. The portal's own health: readiness, the ops health page and Prometheus metrics.

``/readyz`` and ``/metrics`` are answered without a session (no cookie is read or set): the first is public and
cheap, the second needs ``METRICS_TOKEN`` or an address in ``METRICS_ALLOW``. ``/ops/health`` is for managers and
admins. The request-latency histogram is fed by app-wide request hooks registered here.
"""

from __future__ import annotations

import contextlib
import time

from flask import Blueprint, g, request

from portal.blueprints.health import views
from portal.services import metrics, spikes

bp = Blueprint("health", __name__)

bp.add_url_rule("/readyz", "readyz", views.readyz, methods=["GET"])
bp.add_url_rule("/metrics", "metrics", views.metrics_page, methods=["GET"])
bp.add_url_rule("/ops/health", "page", views.page, methods=["GET"])
bp.add_url_rule("/ops/health/board", "board", views.board, methods=["GET"])
bp.add_url_rule("/ops/spikes/<int:spike_id>/dismiss", "dismiss_spike", views.dismiss_spike, methods=["POST"])


@bp.before_app_request
def _start_timer() -> None:
    g.health_request_started = time.perf_counter()


@bp.after_app_request
def _observe(response):
    started = g.pop("health_request_started", None)
    if started is not None:
        rule = request.url_rule
        with contextlib.suppress(Exception):  # a metric must never break a response
            metrics.observe_request(
                rule.endpoint if rule is not None else None, request.method, time.perf_counter() - started
            )
    return response


@bp.app_template_global()
def declare_incident_url(spike_id: int) -> str:
    return spikes.declare_incident_path(spike_id)
