"""Answering a survey: from the emailed link (no sign-in; the token is the key) or from the customer's ticket page.

A GET only shows the survey, with the rating of the clicked link chosen; nothing is recorded until the form is
submitted (mail scanners and link previews follow links)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import attempt, customer_required
from portal.blueprints.csat.forms import RatingForm
from portal.models import SurveyState, utcnow
from portal.params import choice_param
from portal.services import csat
from portal.services.access import get_ticket_for
from portal.services.errors import ValidationFailed

THANKS = "Thank you for your rating."


def survey(token: str):
    survey = csat.survey_for_token(token)  # a bad token is a friendly 404
    form = RatingForm()
    refused = None
    if form.validate_on_submit():
        _rated, refused = attempt(lambda: csat.rate(survey, form.rating.data, form.comment.data, utcnow(), "email"))
        if refused is None:
            flash(THANKS, "success")
            return redirect(url_for("csat.survey", token=token), 303)
    chosen = form.rating.data if request.method == "POST" else choice_param("rating", ("1", "2", "3", "4", "5"))
    state = csat.state_at(survey, utcnow())
    status = refused.status_code if refused else 410 if state in (SurveyState.withdrawn, SurveyState.expired) else 200
    return render_template(
        "csat/survey.html",
        survey=survey,
        state=state,
        form=form,
        chosen=str(chosen or ""),
        errors=_errors(refused),
        closed=csat.closed_message(survey, utcnow()),
        action=url_for("csat.survey", token=token),
        ratings=csat.RATINGS,
    ), status


@customer_required
def rate_ticket(reference: str):
    """The ticket page's survey form: only the requester rates (a colleague's page shows no form)."""
    ticket = get_ticket_for(current_user, reference)
    survey = csat.survey_to_rate(current_user, ticket)  # 404 without a survey, 403 for anyone but the requester
    form = RatingForm()
    form.validate_on_submit()  # the CSRF token was checked before the view ran
    _rated, refused = attempt(lambda: csat.rate(survey, form.rating.data, form.comment.data, utcnow(), "portal"))
    if refused is None:
        flash(THANKS, "success")
    elif isinstance(refused, ValidationFailed | csat.SurveyClosed):
        flash(" ".join((refused.fields or {}).values()) or refused.message, "error")
    else:
        raise refused
    return redirect(url_for("customer.ticket", reference=ticket.reference, _anchor="csat"), 303)


def _errors(refused) -> dict[str, str]:
    if refused is None:
        return {}
    return refused.fields or {"form": refused.message}
