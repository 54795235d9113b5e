"""Low ratings (1–2 stars) waiting for a manager's follow-up, and the action that records who followed up when."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required, attempt, make_page, page_number
from portal.models import utcnow
from portal.services import csat


@admin_required
def follow_up():
    number, size = page_number(), current_app.config["QUEUE_PAGE_SIZE"]
    page = make_page(csat.needs_follow_up(current_user, number, size), number, size)
    return render_template("csat/follow_up.html", page=page, done=csat.recently_followed_up(current_user))


@admin_required
def mark_followed_up(survey_id: int):
    survey, refused = attempt(lambda: csat.mark_followed_up(current_user, survey_id, utcnow()))
    if isinstance(refused, csat.SurveyClosed):
        flash(refused.message, "error")
    elif refused is not None:
        raise refused
    else:
        flash(f"{survey.ticket.reference}: marked followed up.", "success")
    return redirect(url_for("csat.follow_up"), 303)
