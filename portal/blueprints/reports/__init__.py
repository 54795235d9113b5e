"""The ``reports`` blueprint (``/reports``): the managers' daily, weekly and monthly reports with the tickets behind
every number and CSV downloads, the live dashboard, and the go-live success criteria. Agents get their own figures
only. Its URL map, in one place (views live in the modules imported here); the satisfaction follow-up list under
``/reports/csat/`` belongs to the ``csat`` blueprint."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.reports import live, pages, success

bp = Blueprint("reports", __name__)

bp.add_url_rule("/", "index", pages.index, methods=["GET"])
bp.add_url_rule("/tickets", "tickets", pages.tickets, methods=["GET"])
bp.add_url_rule("/<table>.csv", "csv", pages.csv_download, methods=["GET"])  # pages.CSV_TABLES, else 404
bp.add_url_rule("/live", "live", live.page, methods=["GET"])
bp.add_url_rule("/live/board", "live_board", live.board, methods=["GET"])
bp.add_url_rule("/success", "success", success.page, methods=["GET"])
bp.add_url_rule("/success/go-live", "save_go_live", success.save_go_live, methods=["POST"])


@bp.after_request
def _private(response):
    """Reports name customers and staff and change by the minute: never cached; pages and their htmx partials
    answer from the same URLs only where marked, so caches must tell them apart."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    response.vary.add("HX-Request")
    return response
