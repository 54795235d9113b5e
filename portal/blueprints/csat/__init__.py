"""The ``csat`` blueprint: satisfaction surveys. Its URL map, in one place (views live in the modules imported here).

Registered without a prefix: the emailed survey link (``/csat/<token>``, public: the signed token authenticates
it), the ticket page's rating form, and the managers' follow-up list of low ratings under ``/reports/csat/``.
"""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.csat import follow_up, survey

bp = Blueprint("csat", __name__)

bp.add_url_rule("/csat/<token>", view_func=survey.survey, methods=["GET", "POST"])
bp.add_url_rule("/csat/tickets/<reference>", view_func=survey.rate_ticket, methods=["POST"])
bp.add_url_rule("/reports/csat/follow-up", view_func=follow_up.follow_up, methods=["GET"])
bp.add_url_rule("/reports/csat/follow-up/<int:survey_id>", view_func=follow_up.mark_followed_up, methods=["POST"])


@bp.after_request
def _private(response):
    """Survey pages carry a capability in their URL and follow-up lists name customers: never cached."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    return response
