"""The live dashboard (managers and admins): the page, and the board it reloads every 30 seconds with htmx."""

from __future__ import annotations

from flask import render_template

from portal.blueprints.common import admin_required
from portal.services import live_dashboard
from portal.timezones import viewer_zone

REFRESH_SECONDS = 30


@admin_required
def page():
    board = live_dashboard.dashboard(viewer_zone())
    return render_template("reports/live.html", board=board, refresh=REFRESH_SECONDS)


@admin_required
def board():
    """The board alone, and the status line out of band (the page's polite live region announces the update)."""
    board = live_dashboard.dashboard(viewer_zone())
    return render_template("reports/partials/_live.html", board=board, refresh=REFRESH_SECONDS, oob=True)
