"""What a report counts, gathered once per period with set-based queries.

``ReportData(period, now)`` reads each kind of fact lazily (a ``cached_property`` per kind) and keeps the ticket ids
behind it, so the team summary, the agents report and the drill-down lists are all cut from the same sets and always
agree. Event order is ``(created_at, id)``: events with equal instants apply one at a time, in id order.

How it reads the history, cheaply at 10k tickets a month in a database of 100k and more:

- One scan of the period's events (index ``ix_ticket_events_created_at``) keeps only what the figures use: entries
  into ``solved``, reopens, tier changes, assignee changes and public staff replies.
- A ticket created in the period has its whole history up to the period's end inside that scan (no event precedes
  its ticket's creation). For the older tickets concerned (solved, answered, decided or rated in the period) one
  more query by ticket id reads what happened before the period: staff replies, assignee changes, reopens.
- SLA decisions come from the ticket columns the clock engine keeps (indexed ``*_decided_at``), CSAT from
  ``csat_surveys.rated_at``, tickets created from ``ix_tickets_created_at`` (which covers ``id``).
- ``open_at_end`` replays status and priority events only for the tickets whose status or priority changed at or
  after the end; a ticket open now and unchanged since the end was open then, at its current priority.

Columns are read without the ORM's per-row conversions (``raw``) and instants parsed once (``instant``): the same
statements run on SQLite (ISO text) and PostgreSQL (``timestamptz``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import and_, func, or_, select

from portal.extensions import db
from portal.models import (
    STAFF_ROLES,
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
from portal.models.tickets import OPEN_SQL
from portal.services.reports import decisions as sla_decisions
from portal.services.reports.decisions import Decision
from portal.services.reports.periods import Period
from portal.services.reports.rows import chunks, instant, raw

SOLVED, CLOSED = Status.solved.value, Status.closed.value
PRIORITIES = tuple(p.value for p in Priority)
TIER_RANK = {"L1": 0, "L2": 1, "manager": 2, "engineering": 3}
STAFF = sorted(STAFF_ROLES, key=lambda r: r.value)
AFTER_ALL = 1 << 62  # an event id beyond any real one: "after every event at that instant"
FIELD_CHANGE, PUBLIC_REPLY = EventKind.field_change.value, EventKind.public_reply.value

Key = tuple[datetime, int]  # an event's place in a ticket's history: (created_at, id)


def minutes(start: datetime, end: datetime) -> float:
    """Wall-clock minutes between two instants, sub-second precision kept."""
    return (end - start).total_seconds() / 60


def _staff_ids():
    return select(User.id).where(User.role.in_(STAFF))


def _reopen(field, old, new):
    """A status change leaving ``solved`` for anything but ``closed``."""
    return and_(field == "status", old == SOLVED, new.not_in((SOLVED, CLOSED)))


class FirstResponse(NamedTuple):
    ticket_id: int
    at: datetime
    event_id: int
    author_id: int | None
    created_at: datetime

    @property
    def minutes(self) -> float:
        return minutes(self.created_at, self.at)


class Rating(NamedTuple):
    survey_id: int
    ticket_id: int
    rating: int
    at: datetime


class Escalation(NamedTuple):
    ticket_id: int
    event_id: int
    at: datetime
    author_id: int | None


class KbContribution(NamedTuple):
    kind: str  # "published" (a new article published) or "updated" (a published article changed)
    article_id: int
    author_id: int | None
    at: datetime


@dataclass
class _Scan:
    """What one pass over the period's events keeps."""

    solves: dict[int, list[Key]]
    reopened: set[int]
    staff_replies: dict[int, list[tuple[datetime, int, int | None]]]  # (at, event id, author)
    escalations: list[Escalation]
    assignments: dict[int, list[tuple[Key, int | None]]]


@dataclass
class _Before:
    """What happened before the period to the older tickets concerned."""

    staff_replies: dict[int, int]  # ticket → public staff replies before the period
    reopened: set[int]
    assignments: dict[int, list[tuple[Key, int | None]]]
    created_at: dict[int, datetime]


class ReportData:
    """The facts of one period as of ``now`` (default: the current instant)."""

    def __init__(self, period: Period, now: datetime | None = None):
        self.period = period
        self.now = now or utcnow()
        self.start, self.end = period.start, period.end
        self._created_parsed: dict[int, datetime] = {}

    def _rows(self, statement) -> list:
        """Rows of a Core statement, without the ORM's per-row work."""
        return db.session.connection().execute(statement).all()

    def _ids(self, statement) -> set[int]:
        """The first column of a statement's rows as a set (no DISTINCT in SQL: the planner would then walk the
        events by ticket id instead of the instant range)."""
        return {row[0] for row in self._rows(statement)}

    # ----------------------------------------------------------------- tickets created

    @cached_property
    def _created(self) -> dict:
        """Tickets created in the period → their creation instant as stored (parsed when one is needed)."""
        rows = self._rows(
            select(Ticket.id, raw(Ticket.created_at)).where(
                Ticket.created_at >= self.start, Ticket.created_at < self.end
            )
        )
        return dict(rows)

    @cached_property
    def created(self) -> set[int]:
        """Tickets created in the period."""
        return set(self._created)

    # ----------------------------------------------------------------- the period's events

    @cached_property
    def _scan(self) -> _Scan:
        e = TicketEvent
        rows = self._rows(
            select(
                e.ticket_id, raw(e.created_at), e.id, raw(e.kind), e.field, e.old_value, e.new_value, e.author_id,
                e.new_user_id,
            ).where(
                e.created_at >= self.start,
                e.created_at < self.end,
                or_(
                    and_(
                        e.kind == EventKind.field_change,
                        or_(
                            and_(e.field == "status", e.new_value == SOLVED),
                            _reopen(e.field, e.old_value, e.new_value),
                            e.field.in_(("tier", "assignee")),
                        ),
                    ),
                    and_(e.kind == EventKind.public_reply, e.author_id.in_(_staff_ids())),
                ),
            )
        )  # fmt: skip
        scan = _Scan(defaultdict(list), set(), defaultdict(list), [], defaultdict(list))
        for ticket_id, at, event_id, kind, field, old, new, author_id, new_user_id in rows:
            at = instant(at)
            if kind == PUBLIC_REPLY:
                scan.staff_replies[ticket_id].append((at, event_id, author_id))
            elif field == "status":
                if new == SOLVED:
                    scan.solves[ticket_id].append((at, event_id))
                else:
                    scan.reopened.add(ticket_id)
            elif field == "assignee":
                scan.assignments[ticket_id].append(((at, event_id), new_user_id))
            elif TIER_RANK.get(new, -1) > TIER_RANK.get(old or "L1", 0):
                scan.escalations.append(Escalation(ticket_id, event_id, at, author_id))
        for entries in scan.solves.values():
            entries.sort()
        for replies in scan.staff_replies.values():
            replies.sort()
        return scan

    @cached_property
    def solves(self) -> dict[int, list[Key]]:
        """Per ticket that entered ``solved`` in the period: each entry's (instant, event id), in order."""
        return dict(self._scan.solves)

    @cached_property
    def reopened(self) -> set[int]:
        """Tickets that left ``solved`` for a status other than ``closed`` in the period."""
        return self._scan.reopened

    def last_solve(self, ticket_id: int) -> Key:
        return self._scan.solves[ticket_id][-1]

    @cached_property
    def escalations(self) -> list[Escalation]:
        """Tier raises (L1 < L2 < manager < engineering) in the period, by a person or by the system."""
        return sorted(self._scan.escalations, key=lambda x: (x.at, x.event_id))

    @cached_property
    def escalated_created(self) -> set[int]:
        """Tickets created in the period with an escalation also in the period."""
        return {x.ticket_id for x in self._scan.escalations} & self.created

    # ----------------------------------------------------------------- older tickets: before the period

    @cached_property
    def _before(self) -> _Before:
        """Before the period, for the older tickets solved or answered in it."""
        scan = self._scan
        return self._read_before((set(scan.solves) | set(scan.staff_replies)) - self.created)

    @cached_property
    def _before_decided_or_rated(self) -> _Before:
        """Before the period, for the other older tickets decided or rated in it (whose assignee the agents report
        needs)."""
        tickets = {d.ticket_id for d in self.decisions} | {r.ticket_id for r in self.ratings}
        return self._read_before(tickets - self.created - set(self._scan.solves) - set(self._scan.staff_replies))

    def _read_before(self, tickets: set[int]) -> _Before:
        e = TicketEvent
        before = _Before({}, set(), defaultdict(list), {})
        counts: dict[int, int] = defaultdict(int)
        for ids in chunks(tickets):
            rows = self._rows(
                select(e.ticket_id, raw(e.created_at), e.id, raw(e.kind), e.field, e.new_user_id).where(
                    e.ticket_id.in_(ids),
                    e.created_at < self.start,
                    or_(
                        and_(e.kind == EventKind.public_reply, e.author_id.in_(_staff_ids())),
                        and_(
                            e.kind == EventKind.field_change,
                            or_(e.field == "assignee", _reopen(e.field, e.old_value, e.new_value)),
                        ),
                    ),
                )
            )
            for ticket_id, at, event_id, kind, field, new_user_id in rows:
                if kind == PUBLIC_REPLY:
                    counts[ticket_id] += 1
                elif field == "assignee":
                    before.assignments[ticket_id].append(((instant(at), event_id), new_user_id))
                else:
                    before.reopened.add(ticket_id)
            created = self._rows(select(Ticket.id, raw(Ticket.created_at)).where(Ticket.id.in_(ids)))
            before.created_at.update((ticket_id, instant(at)) for ticket_id, at in created)
        before.staff_replies = dict(counts)
        return before

    def created_at(self, ticket_id: int) -> datetime:
        parsed = self._created_parsed.get(ticket_id)
        if parsed is None:
            stored = self._created.get(ticket_id)
            parsed = instant(stored) if stored is not None else self._before.created_at[ticket_id]
            self._created_parsed[ticket_id] = parsed
        return parsed

    @cached_property
    def _resolution_minutes(self) -> dict[int, float]:
        solves = self._scan.solves
        return {t: minutes(self.created_at(t), entries[-1][0]) for t, entries in solves.items()}

    def resolution_minutes(self, ticket_id: int) -> float:
        """Last entry into ``solved`` within the period − creation."""
        return self._resolution_minutes[ticket_id]

    # ----------------------------------------------------------------- first contact resolution

    def _replies_before_last_solve(self, ticket_id: int) -> int:
        last = self.last_solve(ticket_id)
        in_period = sum(1 for at, event_id, _a in self._scan.staff_replies.get(ticket_id, ()) if (at, event_id) < last)
        earlier = 0 if ticket_id in self.created else self._before.staff_replies.get(ticket_id, 0)
        return in_period + earlier

    @cached_property
    def _reopened_after_end(self) -> set[int]:
        """Tickets among ``candidates`` reopened from the period's end up to now."""
        candidates = self._fcr_candidates
        if not candidates or self.now < self.end:
            return set()
        e = TicketEvent
        reopen = and_(
            e.created_at >= self.end,
            e.created_at <= self.now,
            e.kind == EventKind.field_change,
            _reopen(e.field, e.old_value, e.new_value),
        )
        later_tickets = db.session.scalar(select(func.count()).where(Ticket.created_at >= self.end))
        if (later_tickets or 0) <= len(candidates):  # few events since the end: one scan by instant
            return self._ids(select(e.ticket_id).where(reopen)) & candidates
        found: set[int] = set()
        for ids in chunks(candidates):
            found |= self._ids(select(e.ticket_id).where(e.ticket_id.in_(ids), reopen))
        return found

    @cached_property
    def _fcr_candidates(self) -> set[int]:
        """Solved tickets with exactly one public staff reply before their last solve and no reopen up to the end."""
        return {
            t
            for t in self._scan.solves
            if t not in self._scan.reopened
            and (t in self.created or t not in self._before.reopened)
            and self._replies_before_last_solve(t) == 1
        }

    @cached_property
    def fcr(self) -> set[int]:
        """Solved tickets with exactly one public staff reply before their last solve, never reopened up to now."""
        return self._fcr_candidates - self._reopened_after_end

    # ----------------------------------------------------------------- first responses

    @cached_property
    def first_responses(self) -> dict[int, FirstResponse]:
        """Tickets whose first ever public staff reply lies in the period, with that reply."""
        found: dict[int, FirstResponse] = {}
        for ticket_id, replies in self._scan.staff_replies.items():
            if ticket_id not in self.created and self._before.staff_replies.get(ticket_id):
                continue  # answered before the period
            at, event_id, author_id = replies[0]
            found[ticket_id] = FirstResponse(ticket_id, at, event_id, author_id, self.created_at(ticket_id))
        return found

    # ----------------------------------------------------------------- SLA decisions

    @cached_property
    def _unrecorded(self) -> list[Decision]:
        return sla_decisions.unrecorded(self.period, self.now)

    @cached_property
    def decisions(self) -> list[Decision]:
        """Every target decided in the period as of ``now``: recorded on the ticket, or run past its due instant
        and not yet swept."""
        recorded = [d for target in sla_decisions.TARGETS for d in sla_decisions.stored(self.period, target)]
        return recorded + self._unrecorded

    @cached_property
    def decision_counts(self) -> Counter:
        """``{(target, verdict, priority at a breach or None): n}`` of ``decisions`` (counted by the database when
        the rows themselves are not needed)."""
        if "decisions" in self.__dict__:
            return Counter(
                (d.target, d.verdict, d.priority if d.verdict == sla_decisions.BREACHED else None)
                for d in self.decisions
            )
        counts: Counter = Counter()
        for target in sla_decisions.TARGETS:
            for (verdict, priority), n in sla_decisions.stored_counts(self.period, target).items():
                counts[(target, verdict, priority)] += n
        counts.update((d.target, d.verdict, d.priority) for d in self._unrecorded)
        return counts

    @cached_property
    def _decided(self) -> dict[tuple[str, str], list[Decision]]:
        grouped: dict[tuple[str, str], list[Decision]] = defaultdict(list)
        for decision in self.decisions:
            grouped[(decision.target, decision.verdict)].append(decision)
        return grouped

    def decided(self, target: str, verdict: str) -> list[Decision]:
        return self._decided.get((target, verdict), [])

    # ----------------------------------------------------------------- satisfaction

    @cached_property
    def ratings(self) -> list[Rating]:
        rows = self._rows(
            select(CsatSurvey.id, CsatSurvey.ticket_id, CsatSurvey.rating, raw(CsatSurvey.rated_at)).where(
                CsatSurvey.rated_at >= self.start,
                CsatSurvey.rated_at < self.end,
                CsatSurvey.rating.is_not(None),
            )
        )
        ratings = (Rating(survey_id, ticket_id, rating, instant(at)) for survey_id, ticket_id, rating, at in rows)
        return sorted(ratings, key=lambda r: (r.at, r.survey_id))

    # ----------------------------------------------------------------- open at the end

    @cached_property
    def open_at_end(self) -> dict[int, str]:
        """Tickets created before the end whose status then (events strictly before the end replayed) was neither
        ``solved`` nor ``closed``, with the priority then in force.

        Only two kinds of ticket can qualify: those open now, and those whose status or priority changed at or
        after the end. A ticket open now and unchanged since the end was open then, at its current priority; the
        tickets changed since have their status and priority events replayed."""
        e = TicketEvent
        changed = self._ids(
            select(e.ticket_id).where(
                e.created_at >= self.end,
                e.kind == EventKind.field_change,
                e.field.in_(("status", "priority")),
            )
        )
        # Tickets created since the end are not counted: drop them here (the covering index gives their ids).
        changed -= self._ids(select(Ticket.id).where(Ticket.created_at >= self.end))
        result: dict[int, str] = {}
        # OPEN_SQL as written matches the partial index of open tickets (a few percent of the desk).
        for ticket_id, priority, created in self._rows(
            select(Ticket.id, raw(Ticket.priority), raw(Ticket.created_at)).where(OPEN_SQL)
        ):
            if ticket_id not in changed and instant(created) < self.end:
                result[ticket_id] = priority
        for ids in chunks(changed):
            current = dict(
                self._rows(
                    select(Ticket.id, raw(Ticket.priority)).where(Ticket.id.in_(ids), Ticket.created_at < self.end)
                )
            )
            history: dict[int, list] = defaultdict(list)
            for ticket_id, at, event_id, field, old, new in self._rows(
                select(e.ticket_id, raw(e.created_at), e.id, e.field, e.old_value, e.new_value).where(
                    e.ticket_id.in_(list(current)),
                    e.kind == EventKind.field_change,
                    e.field.in_(("status", "priority")),
                )
            ):
                history[ticket_id].append((instant(at), event_id, field, old, new))
            for ticket_id, priority_now in current.items():
                replayed = self._replay(sorted(history.get(ticket_id, [])), priority_now)
                if replayed is not None:
                    result[ticket_id] = replayed
        return result

    def _replay(self, events: list, priority_now: str) -> str | None:
        """The priority at the end of a ticket whose status then was open, else None."""
        first_priority = next((ev for ev in events if ev[2] == "priority"), None)
        priority = (first_priority[3] if first_priority and first_priority[3] else None) or priority_now
        status = Status.new.value
        for at, _event_id, field, _old, new in events:
            if at >= self.end:
                break
            if field == "status":
                status = new
            elif new:
                priority = new
        return None if status in (SOLVED, CLOSED) else priority

    # ----------------------------------------------------------------- knowledge base

    @cached_property
    def kb_contributions(self) -> list[KbContribution]:
        """Published article revisions in the period: the revision an article went live with ("published") and
        each change saved to a published article ("updated"), by the revision's author (one indexed range)."""
        rows = db.session.execute(
            select(
                ArticleRevision.contribution,
                ArticleRevision.article_id,
                ArticleRevision.author_id,
                ArticleRevision.created_at,
            ).where(
                ArticleRevision.contribution.in_(("published", "updated")),
                ArticleRevision.created_at >= self.start,
                ArticleRevision.created_at < self.end,
            )
        ).all()
        found = [KbContribution(kind, article_id, author_id, at) for kind, article_id, author_id, at in rows]
        return sorted(found, key=lambda c: (c.at, c.article_id))

    # ----------------------------------------------------------------- who was the assignee

    @cached_property
    def _assignments(self) -> dict[int, tuple[list[Key], list[int | None]]]:
        """Per ticket: its assignee changes before the end, in order (from the scan and from before the period)."""
        merged: dict[int, list] = defaultdict(list)
        for source in (self._scan.assignments, self._before.assignments, self._before_decided_or_rated.assignments):
            for ticket_id, changes in source.items():
                merged[ticket_id].extend(changes)
        result = {}
        for ticket_id, changes in merged.items():
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

    @cached_property
    def _assignment_instants(self) -> set[tuple[int, datetime]]:
        return {(t, key[0]) for t, (keys, _users) in self._assignments.items() for key in keys}

    def _reassigned_at(self, ticket_id: int, at: datetime) -> bool:
        return (ticket_id, at) in self._assignment_instants

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
                pick = solves[-1:]
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
