"""KB analytics for admins and managers: top searches, KB gaps, deflections and the ticket cost they saved,
article helpfulness (issue 4 part B)."""

from __future__ import annotations

from flask import current_app, render_template, request

from portal.blueprints.common import admin_required
from portal.search import analytics

PERIODS = {7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days", 365: "Last year"}


@admin_required
def kb_reports():
    days = request.args.get("days", type=int)
    days = days if days in PERIODS else 30
    count, saved = analytics.deflection_totals(days)
    return render_template(
        "admin/kb_reports.html",
        days=days,
        periods=PERIODS,
        top=analytics.top_searches(days),
        gaps=analytics.kb_gaps(days),
        by_article=analytics.deflections_by_article(days),
        by_week=analytics.deflections_by_week(days),
        deflections=count,
        saved=saved,
        cost=current_app.config.get("KB_COST_PER_TICKET", 190),
        helpfulness=analytics.helpfulness(),
        suggested=analytics.suggestion_stats(days),
    )
