"""KB analytics for admins and managers: top searches and KB gaps (searches people typed), suggestion look-ups
(shown apart: they are not gaps), deflections and the ticket cost they saved, article helpfulness."""

from __future__ import annotations

from flask import render_template

from portal.blueprints.common import admin_required
from portal.params import int_param
from portal.services.kb import reports

PERIODS = {7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days", 365: "Last year"}


@admin_required
def kb_reports():
    days = int_param("days", 30, lenient=True)
    days = days if days in PERIODS else 30
    count, saved = reports.deflection_totals(days)
    return render_template(
        "admin/kb_reports.html",
        days=days,
        periods=PERIODS,
        top=reports.top_searches(days),
        gaps=reports.kb_gaps(days),
        lookups=reports.lookup_summary(days),
        unanswered=reports.unanswered_lookups(days),
        by_article=reports.deflections_by_article(days),
        by_week=reports.deflections_by_week(days),
        deflections=count,
        saved=saved,
        cost=reports.cost_per_ticket(),
        helpfulness=reports.helpfulness(),
        suggested=reports.suggestion_stats(days),
    )
