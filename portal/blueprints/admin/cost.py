"""Admin: the support team's cost model (salaries, benefits, tools, training, office) behind the cost per ticket."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import roles_required
from portal.extensions import db
from portal.models import Role
from portal.services import cost
from portal.services.errors import ValidationFailed
from portal.services.reports.periods import Period

RECENT_DAYS = 30


@roles_required(Role.admin)
def cost_model():
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            cost.save(values, current_user)
        except ValidationFailed as exc:
            db.session.rollback()  # nothing was saved; the figures show the stored model
            return _render(values, exc.fields, 422)
        flash("The cost model is saved. Reports use it for the cost per ticket from now on.", "success")
        return redirect(url_for("admin.cost_model"), 303)
    return _render(cost.form_values(), {})


def _render(values: dict, errors: dict, status: int = 200):
    return render_template(
        "admin/cost.html",
        values=values,
        errors=errors,
        figures=cost.overview(Period.last_days(RECENT_DAYS)),
        roles=cost.ROLES,
        other_lines=cost.OTHER_LINES,
        sources=cost.HEADCOUNT_SOURCES,
        roster=cost.roster_headcounts(),
    ), status
