"""Paging: a hotline ticket pages the effective primary on-call now; without an acknowledgement within
``PAGE_ACK_MINUTES`` the periodic job pages the next step of the policy (secondary on-call, then the active
managers); an acknowledgement (the signed link, the ticket page's button) stops the chain.

Every page, escalation and acknowledgement is an internal note on the ticket (``tickets.reply_to_ticket``: author
None for the system, the acknowledging user for an acknowledgement). The sends leave through the outbox
(``paging.page``, workers/paging.py) in the same transaction; each channel is sent once per person and step.

Two runners of the escalation job (the embedded scheduler and ``rq cron``) cannot both escalate a page: the step
moves by a conditional UPDATE on (state, step, due time), and only the runner whose UPDATE matched writes anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Role, Ticket, User, utcnow
from portal.models.paging import PAGE_STEPS, STEP_LABELS, Page, PageAttempt, PageState
from portal.services import outbox
from portal.services import tickets as ticket_service
from portal.services.changes import SYSTEM
from portal.services.errors import Forbidden, NotFound
from portal.services.paging import schedule

CHANNEL_WORDS = {"slack": "Slack", "email": "email", "sms": "SMS"}
_SALT = "paging.ack"


def ack_minutes() -> int:
    return int(current_app.config.get("PAGE_ACK_MINUTES", 5))


def channels_for(user: User) -> list[str]:
    """Where a page to ``user`` goes: the team's Slack (when configured), their email, an SMS to their phone (when
    the gateway is configured and they have a number)."""
    config = current_app.config
    found = ["slack"] if config.get("SLACK_WEBHOOK_URL") else []
    if user.email:
        found.append("email")
    if config.get("SMS_GATEWAY_URL") and user.phone:
        found.append("sms")
    return found


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _people(page: Page, step: str, at: datetime) -> list[User]:
    """Who a step pages, leaving out whoever this page reached already."""
    paged = {a.user_id for a in page.attempts}
    if step == "manager":
        found = db.session.scalars(
            select(User)
            .where(User.role == Role.manager, User.is_active_account.is_(True), User.is_approved.is_(True))
            .order_by(User.name, User.id)
        )
        return [u for u in found if u.id not in paged]
    user = schedule.effective(step, at)
    return [user] if user is not None and user.id not in paged else []


def _plan(page: Page, first: int, at: datetime) -> tuple[int | None, list[User], list[str]]:
    """The first step from ``first`` on with someone to page: (its index, the people, the steps skipped)."""
    skipped: list[str] = []
    for index in range(first, len(PAGE_STEPS)):
        people = _people(page, PAGE_STEPS[index], at)
        if people:
            return index, people, skipped
        skipped.append(PAGE_STEPS[index])
    return None, [], skipped


def _note(ticket: Ticket, body: str, author: User | None = None) -> None:
    """An internal note on the ticket through the ticket service (author None: the system)."""
    ticket_service.reply_to_ticket(author or SYSTEM, ticket, body, internal=True)


def _skipped_words(skipped: list[str]) -> str:
    on_call = [s for s in skipped if s != "manager"]
    parts = []
    if on_call == ["primary", "secondary"]:
        parts.append("Nobody is on call")
    elif on_call:
        parts.append(f"Nobody is {_words([STEP_LABELS[s] for s in on_call])}")
    if "manager" in skipped:
        parts.append("no manager is active")
    return "; ".join(parts)


def _page_people(page: Page, index: int, people: list[User], at: datetime, lead: str) -> None:
    """Page ``people`` at step ``index``: attempts, one outbox row for the step, the ticket note."""
    step = PAGE_STEPS[index]
    attempts = [PageAttempt(page=page, step=step, user_id=u.id, channels=channels_for(u), paged_at=at) for u in people]
    db.session.add_all(attempts)
    db.session.flush()
    outbox.emit(
        "paging.page",
        {"page_id": page.id, "step": step, "attempt_ids": [a.id for a in attempts]},
        dedupe_key=f"paging.page:{page.id}:{step}",
        queue="notify",
    )
    said = []
    for user, attempt in zip(people, attempts, strict=True):
        how = _words([CHANNEL_WORDS[c] for c in attempt.channels]) if attempt.channels else "no channel (none set up)"
        said.append(f"{user.name} ({STEP_LABELS[step]}) by {how}")
    body = f"Paged {said[0]}" + "".join(f"; paged {s}" for s in said[1:]) + "."
    if index < len(PAGE_STEPS) - 1:
        body += f" Acknowledge within {ack_minutes()} minutes, else the page escalates."
    _note(page.ticket, f"{lead}{body}" if lead else body)


def start_page(ticket: Ticket, *, call=None, now: datetime | None = None) -> Page:
    """Page on call for ``ticket`` (once per ticket): the effective primary; nobody on call → the managers at once
    (the note says so); nobody at all → the note says that."""
    existing = db.session.scalar(select(Page).where(Page.ticket_id == ticket.id))
    if existing is not None:
        return existing
    now = now or utcnow()
    page = Page(ticket_id=ticket.id, call_id=call.id if call is not None else None, state=PageState.open, step=0,
                created_at=now)  # fmt: skip
    db.session.add(page)
    db.session.flush()
    index, people, skipped = _plan(page, 0, now)
    if index is None:
        page.next_escalation_at = None
        _note(ticket, f"{_skipped_words(skipped)}: nobody could be paged. Call the on-call engineer by hand.")
        return page
    page.step = index
    page.next_escalation_at = now + timedelta(minutes=ack_minutes()) if index < len(PAGE_STEPS) - 1 else None
    lead = f"{_skipped_words(skipped)}: paging at once. " if skipped else ""
    _page_people(page, index, people, now, lead)
    return page


def escalate(page_id: int, now: datetime | None = None) -> bool:
    """Move one due page to its next step, if it is still open and due and nobody else moved it meanwhile."""
    now = now or utcnow()
    page = db.session.get(Page, page_id)
    if page is None or page.state is not PageState.open or page.next_escalation_at is None:
        return False
    if page.next_escalation_at > now:
        return False
    old_step, old_due = page.step, page.next_escalation_at
    index, people, skipped = _plan(page, old_step + 1, now)
    new_step = index if index is not None else old_step
    new_due = now + timedelta(minutes=ack_minutes()) if index is not None and index < len(PAGE_STEPS) - 1 else None
    moved = db.session.execute(
        update(Page)
        .where(Page.id == page.id, Page.state == PageState.open, Page.step == old_step,
               Page.next_escalation_at == old_due)
        .values(step=new_step, next_escalation_at=new_due)
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if moved != 1:
        db.session.expire(page)
        return False
    db.session.expire(page, ["step", "next_escalation_at"])
    minutes = ack_minutes()
    if index is None:
        _note(
            page.ticket,
            f"No acknowledgement within {minutes} minutes and nobody further to page ({_skipped_words(skipped)}). "
            "The page stays open until someone acknowledges it.",
        )
        return True
    lead = f"No acknowledgement within {minutes} minutes"
    lead += f"; {_skipped_words(skipped).lower()}: " if skipped else ": "
    _page_people(page, index, people, now, lead)
    return True


def escalate_due(now: datetime | None = None, limit: int = 200) -> int:
    """Escalate every open page whose acknowledgement is overdue (each committed on its own). Idempotent: a page
    escalated already is not due any more."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Page.id)
            .where(Page.state == PageState.open, Page.next_escalation_at.is_not(None), Page.next_escalation_at <= now)
            .order_by(Page.next_escalation_at, Page.id)
            .limit(limit)
        )
    )
    moved = 0
    for page_id in due:
        try:
            if escalate(page_id, now):
                moved += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            current_app.logger.exception("paging: escalation of page %s failed; retried next run", page_id)
    return moved


# --------------------------------------------------------------------------- acknowledgement


def acknowledge(page: Page, user: User, *, via: str, now: datetime | None = None) -> bool:
    """``user`` (staff) acknowledges: the chain stops. Returns False when it was acknowledged before (nothing
    changes; the first acknowledgement stands)."""
    if not getattr(user, "is_staff", False) or not user.is_active:
        raise Forbidden("Only active staff acknowledge pages.")
    now = now or utcnow()
    done = db.session.execute(
        update(Page)
        .where(Page.id == page.id, Page.state == PageState.open)
        .values(state=PageState.acknowledged, acknowledged_at=now, acknowledged_by_id=user.id, next_escalation_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(page)
    if done != 1:
        return False
    minutes = max(0, int((now - page.created_at).total_seconds() // 60))
    after = "within a minute" if minutes < 1 else f"{minutes} minute{'s' if minutes != 1 else ''} after the first page"
    _note(page.ticket, f"Page acknowledged by {user.name} ({via}) {after}; the escalation stopped.", author=user)
    return True


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def ack_token(attempt: PageAttempt) -> str:
    """The signed token of one person's page: names the page, the attempt and the person."""
    return _serializer().dumps({"p": attempt.page_id, "a": attempt.id, "u": attempt.user_id})


def attempt_for_token(page_id: int, token: str) -> PageAttempt:
    """The attempt a token was issued for, when it is genuine, not expired and for this page; else NotFound (the
    same answer for every refusal: a guessed link learns nothing)."""
    max_age = int(current_app.config.get("PAGE_ACK_LINK_HOURS", 24)) * 3600
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise NotFound("This acknowledgement link has expired; acknowledge on the ticket page.") from None
    except BadSignature:
        raise NotFound("No such page.") from None
    if not isinstance(data, dict) or data.get("p") != page_id:
        raise NotFound("No such page.")
    attempt = db.session.get(PageAttempt, data.get("a")) if isinstance(data.get("a"), int) else None
    if attempt is None or attempt.page_id != page_id or attempt.user_id != data.get("u"):
        raise NotFound("No such page.")
    return attempt


# --------------------------------------------------------------------------- reading


def page_of_ticket(ticket: Ticket) -> Page | None:
    return db.session.scalar(select(Page).where(Page.ticket_id == ticket.id))


def open_pages(limit: int = 100) -> list[Page]:
    return list(
        db.session.scalars(
            select(Page).where(Page.state == PageState.open).order_by(Page.created_at, Page.id).limit(limit)
        )
    )


def get_page(page_id) -> Page:
    try:
        page = db.session.get(Page, int(page_id))
    except (TypeError, ValueError):
        page = None
    if page is None:
        raise NotFound("No such page.")
    return page
