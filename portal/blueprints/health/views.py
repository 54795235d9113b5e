"""Views of the ``health`` blueprint: thin wrappers around ``portal.services.health``, ``metrics`` and ``spikes``."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required, attempt
from portal.client import client_ip
from portal.extensions import db
from portal.services import health, metrics, spikes
from portal.services.errors import NotFound

REFRESH_SECONDS = 30


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def readyz():
    """Readiness for a load balancer: 200 when the database (and Redis, when configured) answer, else 503. The
    other checks are reported in the body without changing the status."""
    ready, body = health.readiness()
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return _no_store(response)


# --------------------------------------------------------------------------- /metrics


@lru_cache(maxsize=8)
def _allowed_networks(setting: str):
    networks = []
    for part in setting.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            continue  # a typo in the setting allows nothing rather than failing every scrape
    return tuple(networks)


def _metrics_allowed() -> tuple[bool, int]:
    """(allowed, status if refused): a valid bearer token, or a client address in METRICS_ALLOW."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True, 200
    networks = _allowed_networks(current_app.config.get("METRICS_ALLOW") or "")
    if networks:
        try:
            address = ipaddress.ip_address(client_ip())
        except ValueError:
            address = None
        if address is not None and any(address in net for net in networks):
            return True, 200
    return False, 403 if header else 401


def metrics_page():
    allowed, status = _metrics_allowed()
    if not allowed:
        response = current_app.response_class("Forbidden\n" if status == 403 else "Unauthorized\n", status=status)
        response.mimetype = "text/plain"
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return _no_store(response)
    response = current_app.response_class(metrics.exposition(), status=200)
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    return _no_store(response)


# --------------------------------------------------------------------------- the ops page


def _context() -> dict:
    checks = health.run_checks()
    alerts = spikes.open_alerts()
    return {
        "checks": checks,
        "recorded": health.recorded(),
        "alerts": alerts,
        "alert_tickets": {a.id: spikes.tickets_of(a) for a in alerts},
        "failing": [c for c in checks if not c.ok and not c.skipped],
        "refresh": REFRESH_SECONDS,
    }


@admin_required
def page():
    return _no_store(current_app.make_response(render_template("health/page.html", **_context())))


@admin_required
def board():
    """The board alone (htmx every 30 s), and the status line out of band for the polite live region."""
    return _no_store(current_app.make_response(render_template("health/partials/_board.html", oob=True, **_context())))


@admin_required
def dismiss_spike(spike_id: int):
    alert, error = attempt(lambda: spikes.dismiss(current_user, spike_id))
    if isinstance(error, NotFound):
        abort(404)
    if error is not None:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"Spike alert {alert.id} dismissed.", "success")
    return redirect(url_for("health.page"))
