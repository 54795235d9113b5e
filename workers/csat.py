"""Satisfaction survey emails (outbox kinds ``notify.csat_*``, written by ``portal.services.csat``).

Payloads: csat_survey {survey_id} — the requester gets five one-click rating links (each opens the survey page with
that rating chosen; only the page's submit records it, so mail scanners that follow links record nothing);
csat_low_rating {survey_id} — a rating of 1 or 2 goes to the ticket's assignee and every active manager.
Both are idempotent: ``_email`` sends once per outbox row and recipient.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from portal.extensions import db
from portal.models import CsatSurvey, User, utcnow
from portal.services import csat
from portal.services.notifications import wants_email
from workers.notify import _email, _managers
from workers.registry import handler
from workers.runner import PermanentFailure


def _survey(payload: dict[str, Any]) -> CsatSurvey:
    survey = db.session.get(CsatSurvey, int(payload["survey_id"]))
    if survey is None:
        raise PermanentFailure(f"survey {payload.get('survey_id')} does not exist")
    return survey


def rating_links(survey: CsatSurvey) -> list[tuple[int, str, str]]:
    """(rating, label, absolute URL) of the five links of the survey email."""
    token = csat.token_for(survey)
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return [
            (value, label, url_for("csat.survey", token=token, rating=value, _external=True))
            for value, label in csat.RATINGS
        ]


def _follow_up_url() -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("csat.follow_up", _external=True)


@handler("notify.csat_survey")
def csat_survey(payload: dict[str, Any], message_id: int) -> None:
    survey = _survey(payload)
    if not csat.is_open(survey, utcnow()):
        return  # withdrawn by a reopen, answered on the portal or expired before this ran: nothing to ask
    requester = survey.requester
    if not wants_email(requester, "email_ticket_updates"):
        return  # the ticket page still offers the survey
    _email(
        message_id,
        "notify.csat_survey",
        requester,
        "csat_survey",
        f"How did we do? {survey.ticket.subject}",
        ticket=survey.ticket,
        survey=survey,
        links=rating_links(survey),
    )


@handler("notify.csat_low_rating")
def csat_low_rating(payload: dict[str, Any], message_id: int) -> None:
    """Not optional (like a critical alert): a poor rating waits for a manager's follow-up."""
    survey = _survey(payload)
    if survey.rating not in csat.LOW_RATINGS:
        return
    ticket = survey.ticket
    seen: set[int] = set()
    recipients: list[User] = []
    for user in [ticket.assignee, *_managers()]:
        if user is not None and user.id not in seen and user.is_active and user.email:
            seen.add(user.id)
            recipients.append(user)
    for user in recipients:
        _email(
            message_id,
            "notify.csat_low_rating",
            user,
            "csat_low_rating",
            f"Low satisfaction rating {survey.rating}/5: {ticket.subject}",
            ticket=ticket,
            survey=survey,
            label=csat.RATING_LABELS[survey.rating],
            follow_up_url=_follow_up_url(),
        )
