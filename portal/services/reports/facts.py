"""What a report counts, gathered once per period with set-based queries.

``ReportData(period, now)`` reads each kind of fact lazily (a ``cached_property`` per kind, one or two indexed
queries each) and keeps the ticket ids behind it, so the team summary, the agents report and the drill-down lists
are all cut from the same sets and always agree. Event order is ``(created_at, id)``: events with equal instants
apply one at a time, in id order. Replays (status and priority at the period's end, the assignee at an instant) load
only the columns they need, in one query per kind, for the tickets concerned.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (
    STAFF_ROLES,
    Article,
    ArticleRevision,
    CsatSurvey,
    EventKind,
    Priority,
    Status,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from portal.services.reports import decisions as sla_decisions
from portal.services.reports.decisions import Decision
from portal.services.reports.periods import Period

SOLVED, CLOSED = Status.solved.value, Status.closed.value
OPEN_STATUS_VALUES = ("new", "open", "pending", "on_hold")
PRIORITIES = tuple(p.value for p in Priority)
TIER_RANK = {"L1": 0, "L2": 1, "manager": 2, "engineering": 3}
STAFF = sorted(STAFF_ROLES, key=lambda r: r.value)
CHUNK = 2000
AFTER_ALL = 1 << 62  # an event id beyond any real one: "after every event at that instant"

Key = tuple[datetime, int]  # an event's place in a ticket's history: (created_at, id)


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def minutes(start: datetime, end: datetime) -> float:
    """Wall-clock minutes between two instants, sub-second precision kept."""
    return (end - start).total_seconds() / 60


@dataclass(frozen=True)
class FirstResponse:
    ticket_id: int
    at: datetime
    event_id: int
    author_id: int | None
    created_at: datetime

    @property
    def minutes(self) -> float:
        return minutes(self.created_at, self.at)


@dataclass(frozen=True)
class Rating:
    survey_id: int
    ticket_id: int
    rating: int
    at: datetime


@dataclass(frozen=True)
class Escalation:
    ticket_id: int
    event_id: int
    at: datetime
    author_id: int | None


@dataclass(frozen=True)
class KbContribution:
    kind: str  # "published" (a new article published) or "updated" (a published article changed)
    article_id: int
    author_id: int | None
    at: datetime


class ReportData:
    """The facts of one period as of ``now`` (default: the current instant)."""

    def __init__(self, period: Period, now: datetime | None = None):
        self.period = period
        self.now = now or utcnow()
        self.start, self.end = period.start, period.end

    # ----------------------------------------------------------------- tickets created

    @cached_property
    def created(self) -> set[int]:
        """Tickets created in the period."""
        rows = db.session.scalars(
            select(Ticket.id).where(Ticket.created_at >= self.start, Ticket.created_at < self.end)
        )
        return set(rows)

    # ----------------------------------------------------------------- status changes in the period

    @cached_property
    def _status_events(self) -> list:
        return db.session.execute(
            select(
                TicketEvent.ticket_id,
                TicketEvent.created_at,
                TicketEvent.id,
                TicketEvent.old_value,
                TicketEvent.new_value,
            ).where(
                TicketEvent.created_at >= self.start,
                TicketEvent.created_at < self.end,
                TicketEvent.kind == EventKind.field_change,
                TicketEvent.field == "status",
            )
        ).all()

    @cached_property
    def solves(self) -> dict[int, list[Key]]:
        """Per ticket that entered ``solved`` in the period: each entry's (instant, event id), in order."""
        found: dict[int, list[Key]] = defaultdict(list)
        for ticket_id, at, event_id, _old, new in self._status_events:
            if new == SOLVED:
                found[ticket_id].append((at, event_id))
        return {t: sorted(keys) for t, keys in found.items()}

    @cached_property
    def reopened(self) -> set[int]:
        """Tickets that left ``solved`` for a status other than ``closed`` in the period."""
        return {t for t, _at, _id, old, new in self._status_events if old == SOLVED and new not in (SOLVED, CLOSED)}

    def last_solve(self, ticket_id: int) -> Key:
        return self.solves[ticket_id][-1]

    @cached_property
    def solved_created_at(self) -> dict[int, datetime]:
        """Creation instants of the tickets solved in the period."""
        result: dict[int, datetime] = {}
        for ids in chunks(self.solves):
            result.update(db.session.execute(select(Ticket.id, Ticket.created_at).where(Ticket.id.in_(ids))).all())
        return result

    def resolution_minutes(self, ticket_id: int) -> float:
        """Last entry into ``solved`` within the period − creation."""
        return minutes(self.solved_created_at[ticket_id], self.last_solve(ticket_id)[0])

    # ----------------------------------------------------------------- first contact resolution

    @cached_property
    def _staff_replies_before_last_solve(self) -> dict[int, int]:
        """Per solved ticket: public staff replies before its last entry into ``solved`` in the period."""
        counts: dict[int, int] = defaultdict(int)
        for ids in chunks(self.solves):
            rows = db.session.execute(
                select(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)
                .join(User, User.id == TicketEvent.author_id)
                .where(
                    TicketEvent.ticket_id.in_(ids),
                    TicketEvent.kind == EventKind.public_reply,
                    User.role.in_(STAFF),
                    TicketEvent.created_at < self.end,
                )
            ).all()
            for ticket_id, at, event_id in rows:
                if (at, event_id) < self.last_solve(ticket_id):
                    counts[ticket_id] += 1
        return counts

    @cached_property
    def reopened_ever(self) -> set[int]:
        """Tickets solved in the period that were reopened at any time up to ``now``."""
        found: set[int] = set()
        for ids in chunks(self.solves):
            found.update(
                db.session.scalars(
                    select(TicketEvent.ticket_id).where(
                        TicketEvent.ticket_id.in_(ids),
                        TicketEvent.kind == EventKind.field_change,
                        TicketEvent.field == "status",
                        TicketEvent.old_value == SOLVED,
                        TicketEvent.new_value.not_in((SOLVED, CLOSED)),
                        TicketEvent.created_at <= self.now,
                    )
                )
            )
        return found

    @cached_property
    def fcr(self) -> set[int]:
        """Solved tickets with exactly one public staff reply before their last solve, never reopened up to now."""
        replies = self._staff_replies_before_last_solve
        return {t for t in self.solves if replies.get(t, 0) == 1 and t not in self.reopened_ever}

    # ----------------------------------------------------------------- first responses

    @cached_property
    def first_responses(self) -> dict[int, FirstResponse]:
        """Tickets whose first ever public staff reply lies in the period, with that reply."""
        reply, author = aliased(TicketEvent), aliased(User)
        prior, prior_author = aliased(TicketEvent), aliased(User)
        earlier = (
            select(prior.id)
            .join(prior_author, prior_author.id == prior.author_id)
            .where(
                prior.ticket_id == reply.ticket_id,
                prior.kind == EventKind.public_reply,
                prior_author.role.in_(STAFF),
                prior.created_at < self.start,
            )
            .exists()
        )
        rows = db.session.execute(
            select(reply.ticket_id, reply.created_at, reply.id, reply.author_id, Ticket.created_at)
            .join(author, author.id == reply.author_id)
            .join(Ticket, Ticket.id == reply.ticket_id)
            .where(
                reply.created_at >= self.start,
                reply.created_at < self.end,
                reply.kind == EventKind.public_reply,
                author.role.in_(STAFF),
                ~earlier,
            )
        ).all()
        found: dict[int, FirstResponse] = {}
        for ticket_id, at, event_id, author_id, created_at in rows:
            seen = found.get(ticket_id)
            if seen is None or (at, event_id) < (seen.at, seen.event_id):
                found[ticket_id] = FirstResponse(ticket_id, at, event_id, author_id, created_at)
        return found

    # ----------------------------------------------------------------- SLA decisions

    @cached_property
    def decisions(self) -> list[Decision]:
        return sla_decisions.decisions(self.period, self.now)

    def decided(self, target: str, verdict: str) -> list[Decision]:
        return [d for d in self.decisions if d.target == target and d.verdict == verdict]

    # ----------------------------------------------------------------- escalations

    @cached_property
    def escalations(self) -> list[Escalation]:
        """Tier raises (L1 < L2 < manager < engineering) in the period, manual or automatic."""
        rows = db.session.execute(
            select(
                TicketEvent.ticket_id,
                TicketEvent.id,
                TicketEvent.created_at,
                TicketEvent.author_id,
                TicketEvent.old_value,
                TicketEvent.new_value,
            ).where(
                TicketEvent.created_at >= self.start,
                TicketEvent.created_at < self.end,
                TicketEvent.kind == EventKind.field_change,
                TicketEvent.field == "tier",
            )
        ).all()
        return [
            Escalation(ticket_id, event_id, at, author_id)
            for ticket_id, event_id, at, author_id, old, new in rows
            if TIER_RANK.get(new, -1) > TIER_RANK.get(old or "L1", 0)
        ]

    @cached_property
    def escalated_created(self) -> set[int]:
        """Tickets created in the period with an escalation also in the period."""
        return {e.ticket_id for e in self.escalations} & self.created

    # ----------------------------------------------------------------- satisfaction

    @cached_property
    def ratings(self) -> list[Rating]:
        rows = db.session.execute(
            select(CsatSurvey.id, CsatSurvey.ticket_id, CsatSurvey.rating, CsatSurvey.rated_at).where(
                CsatSurvey.rated_at >= self.start,
                CsatSurvey.rated_at < self.end,
                CsatSurvey.rating.is_not(None),
            )
        ).all()
        return sorted((Rating(*row) for row in rows), key=lambda r: (r.at, r.survey_id))

    # ----------------------------------------------------------------- open at the end

    @cached_property
    def open_at_end(self) -> dict[int, str]:
        """Tickets created before the end whose status then (events strictly before the end replayed) was neither
        ``solved`` nor ``closed``, with the priority then in force.

        Only two kinds of ticket can qualify: those open now, and those whose status or priority changed at or after
        the end; the others have kept since before the end a status that is solved or closed. Their status and
        priority events are replayed."""
        changed_after = (
            select(TicketEvent.ticket_id)
            .where(
                TicketEvent.created_at >= self.end,
                TicketEvent.kind == EventKind.field_change,
                TicketEvent.field.in_(("status", "priority")),
            )
            .distinct()
        )
        columns = select(Ticket.id, Ticket.priority).where(Ticket.created_at < self.end)
        candidates: dict[int, str] = dict(
            db.session.execute(columns.where(Ticket.status.in_([Status(s) for s in OPEN_STATUS_VALUES]))).all()
        )
        candidates.update(db.session.execute(columns.where(Ticket.id.in_(changed_after))).all())
        history: dict[int, list] = defaultdict(list)
        for ids in chunks(candidates):
            rows = db.session.execute(
                select(
                    TicketEvent.ticket_id,
                    TicketEvent.created_at,
                    TicketEvent.id,
                    TicketEvent.field,
                    TicketEvent.old_value,
                    TicketEvent.new_value,
                ).where(
                    TicketEvent.ticket_id.in_(ids),
                    TicketEvent.kind == EventKind.field_change,
                    TicketEvent.field.in_(("status", "priority")),
                )
            ).all()
            for ticket_id, *rest in rows:
                history[ticket_id].append(rest)
        result: dict[int, str] = {}
        for ticket_id, current in candidates.items():
            events = sorted(history.get(ticket_id, []), key=lambda e: (e[0], e[1]))
            first_priority = next((e for e in events if e[2] == "priority"), None)
            priority = (first_priority[3] if first_priority and first_priority[3] else None) or Priority(current).value
            status = Status.new.value
            for at, _event_id, field, _old, new in events:
                if at >= self.end:
                    break
                if field == "status":
                    status = new
                elif new:
                    priority = new
            if status not in (SOLVED, CLOSED):
                result[ticket_id] = priority
        return result

    # ----------------------------------------------------------------- knowledge base

    @cached_property
    def kb_contributions(self) -> list[KbContribution]:
        """Published article revisions in the period: an article's first publication (credited to the author of the
        text it was published with), and each revision saved after the article's first publication."""
        found: list[KbContribution] = []
        published = db.session.execute(
            select(Article.id, Article.published_at, Article.author_id).where(
                Article.published_at >= self.start, Article.published_at < self.end
            )
        ).all()
        if published:
            writers: dict[int, tuple] = {}
            for ids in chunks(a for a, _at, _author in published):
                for article_id, at, rev_id, author_id in db.session.execute(
                    select(
                        ArticleRevision.article_id,
                        ArticleRevision.created_at,
                        ArticleRevision.id,
                        ArticleRevision.author_id,
                    ).where(ArticleRevision.article_id.in_(ids))
                ):
                    writers.setdefault(article_id, []).append((at, rev_id, author_id))
            for article_id, at, author_id in published:
                before = sorted(r for r in writers.get(article_id, []) if r[0] <= at)
                found.append(KbContribution("published", article_id, before[-1][2] if before else author_id, at))
        updated = db.session.execute(
            select(ArticleRevision.article_id, ArticleRevision.author_id, ArticleRevision.created_at)
            .join(Article, Article.id == ArticleRevision.article_id)
            .where(
                ArticleRevision.created_at >= self.start,
                ArticleRevision.created_at < self.end,
                Article.published_at.is_not(None),
                ArticleRevision.created_at > Article.published_at,
            )
        ).all()
        found.extend(KbContribution("updated", article_id, author_id, at) for article_id, author_id, at in updated)
        return sorted(found, key=lambda c: (c.at, c.article_id))

    # ----------------------------------------------------------------- who was the assignee

    @cached_property
    def _assignee_tickets(self) -> set[int]:
        return set(self.solves) | {d.ticket_id for d in self.decisions} | {r.ticket_id for r in self.ratings}

    @cached_property
    def _assignments(self) -> dict[int, tuple[list[Key], list[int | None]]]:
        """Per ticket concerned by the individual figures: its assignee changes before the end, in order."""
        found: dict[int, list] = defaultdict(list)
        for ids in chunks(self._assignee_tickets):
            rows = db.session.execute(
                select(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id, TicketEvent.new_user_id).where(
                    TicketEvent.ticket_id.in_(ids),
                    TicketEvent.kind == EventKind.field_change,
                    TicketEvent.field == "assignee",
                    TicketEvent.created_at < self.end,
                )
            ).all()
            for ticket_id, at, event_id, user_id in rows:
                found[ticket_id].append(((at, event_id), user_id))
        result = {}
        for ticket_id, changes in found.items():
            changes.sort(key=lambda c: c[0])
            result[ticket_id] = ([k for k, _ in changes], [u for _, u in changes])
        return result

    def assignee_at(self, ticket_id: int, key: Key) -> int | None:
        """The assignee once every event up to ``key`` (inclusive) has applied; None when unassigned."""
        changes = self._assignments.get(ticket_id)
        if not changes:
            return None
        keys, users = changes
        index = bisect_right(keys, key)
        return users[index - 1] if index else None

    def _reassigned_at(self, ticket_id: int, at: datetime) -> bool:
        changes = self._assignments.get(ticket_id)
        return bool(changes) and any(k[0] == at for k in changes[0])

    @cached_property
    def _deciding_events(self) -> dict[tuple[int, datetime, str, str], int]:
        """For a decision whose instant also holds an assignee change of its ticket: the id of the event that made
        the decision (a solve, a staff reply, a priority raise or a reopen), so the assignee is the one after it."""
        wanted = [d for d in self.decisions if self._reassigned_at(d.ticket_id, d.at)]
        if not wanted:
            return {}
        tickets = {d.ticket_id for d in wanted}
        instants = {d.at for d in wanted}
        rows = db.session.execute(
            select(
                TicketEvent.ticket_id,
                TicketEvent.created_at,
                TicketEvent.id,
                TicketEvent.kind,
                TicketEvent.field,
                TicketEvent.new_value,
                User.role,
            )
            .outerjoin(User, User.id == TicketEvent.author_id)
            .where(TicketEvent.ticket_id.in_(sorted(tickets)), TicketEvent.created_at.in_(sorted(instants)))
            .order_by(TicketEvent.id)
        ).all()
        found: dict[tuple[int, datetime, str, str], int] = {}
        for d in wanted:
            at_instant = [r for r in rows if r[0] == d.ticket_id and r[1] == d.at]
            solves = [r for r in at_instant if r[3] is EventKind.field_change and r[4] == "status" and r[5] == SOLVED]
            staff_replies = [r for r in at_instant if r[3] is EventKind.public_reply and r[6] in STAFF_ROLES]
            changes = [r for r in at_instant if r[3] is EventKind.field_change and r[4] in ("status", "priority")]
            if d.verdict == sla_decisions.MET and d.target == "resolution":
                pick = solves[-1:] or []
            elif d.verdict == sla_decisions.MET:
                pick = sorted(solves[:1] + staff_replies[:1], key=lambda r: r[2])[:1]
            else:
                pick = changes[:1]
            if pick:
                found[(d.ticket_id, d.at, d.target, d.verdict)] = pick[0][2]
        return found

    def decision_assignee(self, decision: Decision) -> int | None:
        """The assignee at a decision: after the event that made it, or after every event at a due instant."""
        event_id = self._deciding_events.get((decision.ticket_id, decision.at, decision.target, decision.verdict))
        return self.assignee_at(decision.ticket_id, (decision.at, AFTER_ALL if event_id is None else event_id))

    def rating_assignee(self, rating: Rating) -> int | None:
        return self.assignee_at(rating.ticket_id, (rating.at, AFTER_ALL))

    # ----------------------------------------------------------------- staff

    @cached_property
    def staff(self) -> list:
        """Every staff member (id, name, email, role, active), active or not."""
        return db.session.execute(
            select(
                User.id,
                User.name,
                User.email,
                User.role,
                and_(User.is_active_account.is_(True), User.is_approved.is_(True)).label("active"),
            ).where(User.role.in_(STAFF))
        ).all()

    def names(self, user_ids: Iterable[int | None]) -> dict[int, str]:
        """Names of users by id (staff from the list already read, others looked up)."""
        known = {row.id: row.name for row in self.staff}
        missing = [i for i in set(user_ids) if i is not None and i not in known]
        for ids in chunks(missing):
            known.update(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
        return known
