"""Customer satisfaction (CSAT) surveys: offered, withdrawn, expired, answered, followed up.

One survey per resolution cycle of a ticket (the cycle is how many times the ticket has entered ``solved``):
``offer`` when it enters ``solved`` (never to a staff requester), ``withdraw`` when it is reopened before the
requester answers (``solved → closed`` is no reopen), ``expire_due`` once ``CSAT_EXPIRY_DAYS`` have passed. The
requester answers once, from the emailed link (a signed token, no sign-in) or from the ticket page: a rating of 1–5
and an optional comment. A rating of 1 or 2 alerts the assignee and the managers and waits in the follow-up list
until a manager or admin marks it followed up.

Like every step after a ticket change, these functions only write rows and flush; the outbox rows they add
(``notify.csat_survey``, ``notify.csat_low_rating``) are delivered by ``workers/csat.py`` after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_sqlalchemy.session import Session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import CsatSurvey, EventKind, Role, Status, SurveyState, Ticket, TicketEvent, User, utcnow
from portal.params import parse_int
from portal.services.changes import TicketChange, is_quiet
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from portal.services.outbox import emit
from portal.services.webhooks import events as webhook_events

RATINGS: tuple[tuple[int, str], ...] = (
    (1, "Very dissatisfied"),
    (2, "Dissatisfied"),
    (3, "Neutral"),
    (4, "Satisfied"),
    (5, "Very satisfied"),
)
RATING_LABELS = dict(RATINGS)
LOW_RATINGS = frozenset({1, 2})  # alert the desk and wait for a follow-up
COMMENT_MAX = 2000
SOURCES = frozenset({"email", "portal", "import"})
TOKEN_SALT = "csat-survey"
FOLLOW_UP_ROLES = frozenset({Role.manager, Role.admin})


class SurveyClosed(ServiceError):
    """The survey no longer takes a rating: answered, withdrawn by a reopen, or expired."""

    status_code = 409
    code = "survey_closed"


# --------------------------------------------------------------------------- the ticket's lifecycle


def on_ticket_changed(change: TicketChange) -> None:
    """The CSAT step of ``effects.ticket_changed``: entering ``solved`` offers a survey, leaving ``solved`` for any
    status but ``closed`` (a reopen) withdraws the unanswered one."""
    status = change.changed("status")
    if status is None or is_quiet(db.session, change.ticket.id):
        return
    now = change.ticket.updated_at
    if status.new == Status.solved.value:
        offer(change.ticket, now)
    elif status.old == Status.solved.value and status.new != Status.closed.value:
        withdraw(change.ticket, now)


def offer(ticket: Ticket, now: datetime) -> CsatSurvey | None:
    """Offer the survey of the ticket's current resolution cycle (once: offering again returns the same survey) and
    emit ``notify.csat_survey`` for the requester's email. None when the requester is staff."""
    if ticket.requester.is_staff:
        return None
    cycle = solved_cycles(ticket.id)
    existing = db.session.scalar(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id, CsatSurvey.cycle == cycle))
    if existing is not None:
        return existing
    for stale in _open_surveys(ticket.id):  # an earlier cycle left open (never withdrawn): the new one supersedes it
        stale.state = SurveyState.withdrawn
    survey = CsatSurvey(
        ticket_id=ticket.id,
        requester_id=ticket.requester_id,
        cycle=cycle,
        state=SurveyState.open,
        offered_at=now,
        expires_at=now + timedelta(days=int(current_app.config["CSAT_EXPIRY_DAYS"])),
        comment="",
    )
    db.session.add(survey)
    db.session.flush()
    emit("notify.csat_survey", {"survey_id": survey.id}, dedupe_key=f"csat:offer:{survey.id}")
    return survey


def withdraw(ticket: Ticket, now: datetime) -> CsatSurvey | None:
    """Withdraw the ticket's unanswered survey (the ticket was reopened); the next solve offers a new one. Answered,
    expired and already withdrawn surveys stay as they are. Returns the withdrawn survey, if any."""
    withdrawn = None
    for survey in _open_surveys(ticket.id):
        survey.state = SurveyState.withdrawn
        withdrawn = survey
    db.session.flush()
    return withdrawn


def solved_cycles(ticket_id: int) -> int:
    """How many times the ticket has entered ``solved`` (its history's status events), at least 1."""
    count = db.session.scalar(
        select(func.count(TicketEvent.id)).where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind == EventKind.field_change,
            TicketEvent.field == "status",
            TicketEvent.new_value == Status.solved.value,
        )
    )
    return max(int(count or 0), 1)


def expire_due(now: datetime) -> int:
    """Mark open surveys whose ``expires_at`` has passed as expired (the periodic job; running it again changes
    nothing). Returns how many expired now."""
    result = db.session.execute(
        update(CsatSurvey)
        .where(CsatSurvey.state == SurveyState.open, CsatSurvey.expires_at <= now)
        .values(state=SurveyState.expired)
        .execution_options(synchronize_session="fetch")
    )
    _forget_latest(db.session)
    return result.rowcount or 0


# --------------------------------------------------------------------------- answering


def state_at(survey: CsatSurvey, now: datetime) -> SurveyState:
    """The survey's state as of ``now``: an open survey past its expiry is expired even before the job marks it."""
    if survey.state is SurveyState.open and now >= survey.expires_at:
        return SurveyState.expired
    return survey.state


def is_open(survey: CsatSurvey, now: datetime) -> bool:
    return state_at(survey, now) is SurveyState.open


def rate(survey: CsatSurvey, rating: Any, comment: str | None, now: datetime, source: str) -> CsatSurvey:
    """Record the requester's answer: ``rating`` 1–5 and an optional comment, once. An answered, withdrawn or expired
    survey is refused with ``SurveyClosed`` (nothing written); a bad rating or comment with ``ValidationFailed``. A
    rating of 1 or 2 emits ``notify.csat_low_rating`` for the assignee and the managers."""
    value = _parse_rating(rating)
    text = (comment or "").replace("\r\n", "\n").strip()
    if len(text) > COMMENT_MAX:
        raise ValidationFailed("The comment is too long.", {"comment": f"At most {COMMENT_MAX} characters."})
    if source not in SOURCES:
        raise ValidationFailed("Unknown source.", {"source": "One of: " + ", ".join(sorted(SOURCES)) + "."})
    refusal = closed_message(survey, now)
    if refusal:
        raise SurveyClosed(refusal)
    # Conditional on the survey still being open, so two answers sent at the same moment cannot both count.
    result = db.session.execute(
        update(CsatSurvey)
        .where(CsatSurvey.id == survey.id, CsatSurvey.state == SurveyState.open)
        .values(state=SurveyState.answered, rating=value, comment=text, rated_at=now, source=source)
        .execution_options(synchronize_session=False)
    )
    _forget_latest(db.session)
    if result.rowcount != 1:
        db.session.refresh(survey)
        raise SurveyClosed(closed_message(survey, now) or "This survey no longer takes answers.")
    db.session.refresh(survey)
    webhook_events.csat_received(survey)  # outgoing webhooks (if subscribed)
    if value in LOW_RATINGS:
        emit("notify.csat_low_rating", {"survey_id": survey.id}, dedupe_key=f"csat:low:{survey.id}")
    return survey


def closed_message(survey: CsatSurvey, now: datetime) -> str | None:
    """Why the survey takes no rating (for the pages and the refusal), or None while it is open."""
    state = state_at(survey, now)
    if state is SurveyState.answered:
        return f"This survey was already answered: you rated it {survey.rating}/5. Thank you."
    if state is SurveyState.withdrawn:
        return (
            "This survey was withdrawn because the ticket was reopened. You will get a new one when it is solved again."
        )
    if state is SurveyState.expired:
        return f"This survey expired on {survey.expires_at:%Y-%m-%d} (UTC)."
    return None


def _parse_rating(rating: Any) -> int:
    value = parse_int(rating) or 0  # ASCII digits or an int: not 4.7, "٤" or True
    if value not in RATING_LABELS or isinstance(rating, bool):
        raise ValidationFailed("Choose a rating from 1 to 5 stars.", {"rating": "Choose from 1 to 5 stars."})
    return value


# --------------------------------------------------------------------------- links and who may see what


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def token_for(survey: CsatSurvey) -> str:
    """The signed token of the survey's emailed links: it alone authenticates the answer (no sign-in)."""
    return _serializer().dumps({"survey": survey.id, "cycle": survey.cycle})


def survey_for_token(token: str) -> CsatSurvey:
    """The survey a link's token names; ``NotFound`` for a forged, damaged or dangling token. The token's age is
    not checked: the survey's own ``expires_at`` decides (and a clock a little behind the signer's refuses nothing)."""
    try:
        data = _serializer().loads(token)
        survey_id, cycle = int(data["survey"]), int(data["cycle"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("This survey link is not valid. Open the ticket in the portal to rate it.") from None
    survey = db.session.get(CsatSurvey, survey_id)
    if survey is None or survey.cycle != cycle:
        raise NotFound("This survey link is not valid. Open the ticket in the portal to rate it.")
    return survey


def latest_survey(ticket_id: int) -> CsatSurvey | None:
    return db.session.scalar(
        select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id).order_by(CsatSurvey.cycle.desc()).limit(1)
    )


_LATEST = "csat.latest_by_ticket"


def latest_survey_batched(ticket_id: int) -> CsatSurvey | None:
    """``latest_survey`` for pages and lists: a miss loads the latest surveys of every ticket this session holds (a
    page of the API's list) in one query, so a list of N tickets costs one query, not N. The answers are forgotten
    whenever the session flushes, commits or rolls back, and by every writer here."""
    cache: dict[int, CsatSurvey | None] = db.session.info.setdefault(_LATEST, {})
    if ticket_id not in cache:
        loaded = {key[1][0] for key in db.session.identity_map if key[0] is Ticket}  # no loading
        wanted = sorted((loaded | {ticket_id}) - cache.keys())
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            stmt = select(CsatSurvey).where(CsatSurvey.ticket_id.in_(chunk)).order_by(CsatSurvey.cycle)
            for survey in db.session.scalars(stmt):
                cache[survey.ticket_id] = survey  # the highest cycle comes last
            for tid in chunk:
                cache.setdefault(tid, None)
    return cache[ticket_id]


def _forget_latest(session, *_args) -> None:
    session.info.pop(_LATEST, None)


for _moment in ("after_flush", "after_commit", "after_rollback"):
    event.listen(Session, _moment, _forget_latest)


def may_see(viewer: User, survey: CsatSurvey) -> bool:
    """Staff see every survey; a customer only the ones sent to them (not a colleague's, even on a shared ticket)."""
    return bool(viewer.is_staff or survey.requester_id == viewer.id)


def survey_for_viewer(viewer: User, ticket: Ticket) -> CsatSurvey | None:
    """The ticket's latest survey if ``viewer`` may see it (the ticket page's panel, the API)."""
    survey = latest_survey_batched(ticket.id)
    return survey if survey is not None and may_see(viewer, survey) else None


def survey_to_rate(actor: User, ticket: Ticket) -> CsatSurvey:
    """The survey ``actor`` answers from the ticket page: the latest one, sent to them."""
    survey = latest_survey(ticket.id)
    if survey is None:
        raise NotFound("This ticket has no survey to answer.")
    if survey.requester_id != actor.id:
        raise Forbidden("Only the person who filed the ticket can rate it.")
    return survey


def ratings_for_viewer(viewer: User, ticket_id: int) -> list[CsatSurvey]:
    """The ticket's answered surveys that ``viewer`` may see, oldest rating first (the timeline's entries)."""
    stmt = select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id, CsatSurvey.state == SurveyState.answered)
    if not viewer.is_staff:
        stmt = stmt.where(CsatSurvey.requester_id == viewer.id)
    stmt = stmt.options(selectinload(CsatSurvey.requester), selectinload(CsatSurvey.followed_up_by))
    return list(db.session.scalars(stmt.order_by(CsatSurvey.rated_at, CsatSurvey.id)))


def summary(survey: CsatSurvey | None, now: datetime) -> dict[str, Any] | None:
    """The survey as the API shows it (instants ISO 8601 UTC), or None."""
    if survey is None:
        return None
    return {
        "state": state_at(survey, now).value,
        "cycle": survey.cycle,
        "rating": survey.rating,
        "comment": survey.comment if survey.rating is not None else None,
        "rated_at": _iso(survey.rated_at),
        "offered_at": _iso(survey.offered_at),
        "expires_at": _iso(survey.expires_at),
    }


def summary_for(viewer: User, ticket: Ticket) -> dict[str, Any] | None:
    """The ticket JSON's ``csat``: its latest survey, for staff and the requester (None for anyone else)."""
    return summary(survey_for_viewer(viewer, ticket), utcnow())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _open_surveys(ticket_id: int) -> list[CsatSurvey]:
    return list(
        db.session.scalars(
            select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id, CsatSurvey.state == SurveyState.open)
        )
    )


# --------------------------------------------------------------------------- follow-up of low ratings


def _require_follow_up_role(actor: User) -> None:
    if actor.role not in FOLLOW_UP_ROLES:
        raise Forbidden("Only managers and admins follow up low ratings.")


def needs_follow_up(actor: User, page: int, size: int) -> list[CsatSurvey]:
    """Ratings of 1 or 2 nobody has followed up yet, oldest first (``size + 1`` rows for the pager)."""
    _require_follow_up_role(actor)
    stmt = (
        select(CsatSurvey)
        .where(
            CsatSurvey.state == SurveyState.answered,
            CsatSurvey.rating.in_(sorted(LOW_RATINGS)),
            CsatSurvey.followed_up_at.is_(None),
        )
        .options(selectinload(CsatSurvey.ticket).selectinload(Ticket.assignee), selectinload(CsatSurvey.requester))
        .order_by(CsatSurvey.rated_at, CsatSurvey.id)
        .offset((page - 1) * size)
        .limit(size + 1)
    )
    return list(db.session.scalars(stmt))


def recently_followed_up(actor: User, limit: int = 20) -> list[CsatSurvey]:
    """The last low ratings marked followed up, newest first, with who did it."""
    _require_follow_up_role(actor)
    stmt = (
        select(CsatSurvey)
        .where(CsatSurvey.followed_up_at.is_not(None))
        .options(selectinload(CsatSurvey.ticket), selectinload(CsatSurvey.followed_up_by))
        .order_by(CsatSurvey.followed_up_at.desc(), CsatSurvey.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def mark_followed_up(actor: User, survey_id: int, now: datetime) -> CsatSurvey:
    """Record that ``actor`` (a manager or admin) followed up a low rating, and when. Once: a second mark is refused
    with who did it first."""
    _require_follow_up_role(actor)
    survey = db.session.get(CsatSurvey, survey_id)
    if survey is None or survey.rating not in LOW_RATINGS or survey.state is not SurveyState.answered:
        raise NotFound("No low rating waits for a follow-up there.")
    result = db.session.execute(
        update(CsatSurvey)
        .where(CsatSurvey.id == survey.id, CsatSurvey.followed_up_at.is_(None))
        .values(followed_up_at=now, followed_up_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    _forget_latest(db.session)
    db.session.refresh(survey)
    if result.rowcount != 1:
        who = survey.followed_up_by.name if survey.followed_up_by else "someone"
        raise SurveyClosed(f"{who} already followed up this rating ({survey.followed_up_at:%Y-%m-%d %H:%M} UTC).")
    return survey


# --------------------------------------------------------------------------- demo data

DEMO_ANSWERS: tuple[tuple[int, str, str], ...] = (
    (5, "Clear answer and the import works again. Thank you!", "email"),
    (4, "", "portal"),
    (2, "It took three replies before anyone looked at the file I attached.", "email"),
    (5, "", "email"),
    (4, "Solved, although the first suggestion did not apply to our setup.", "portal"),
)


def seed_demo_ratings(requester_ids: list[int], now: datetime) -> int:
    """Demo data: the demo customers' surveys start at their tickets' (backdated) solve instants, those past their
    expiry expire, and a few of the others are answered — one of them low, so the follow-up list has a row. Runs
    once: nothing happens when one of these surveys is answered already. Returns how many ratings it added."""
    mine = select(CsatSurvey).where(CsatSurvey.requester_id.in_(requester_ids))
    if db.session.scalar(mine.where(CsatSurvey.state == SurveyState.answered).limit(1)) is not None:
        return 0
    days = timedelta(days=int(current_app.config["CSAT_EXPIRY_DAYS"]))
    open_surveys = list(db.session.scalars(mine.where(CsatSurvey.state == SurveyState.open).order_by(CsatSurvey.id)))
    for survey in open_surveys:
        survey.offered_at = survey.ticket.solved_at or survey.ticket.updated_at
        survey.expires_at = survey.offered_at + days
    db.session.flush()
    expire_due(now)
    answerable = [s for s in open_surveys if s.state is SurveyState.open]
    for survey, (rating, comment, source) in zip(answerable, DEMO_ANSWERS, strict=False):
        rate(survey, rating, comment, min(survey.offered_at + timedelta(hours=5), now), source)
    return min(len(answerable), len(DEMO_ANSWERS))
