"""The SLA sweep's writes, set-based: the due tickets read as plain rows, their automatic escalations made in memory
in the order the sweep makes them, and everything written at the end of a batch in a few statements.

An escalation here produces exactly the rows ``tickets.escalate_ticket`` and ``effects.ticket_changed`` produce for
the system's escalation, one ticket after another: the tier event and the version bump, ``notify.escalation``, the
SLA clock looked at again at the change's instant (and what it crossed since, told), the routing to a person of the
next tier, the tier spans, ``notify.assignment``, ``index.ticket`` and the ``ticket.updated`` webhooks. The steps that
only compute (the notifications, CSAT, the webhook hooks, the SLA facts) are the services' own functions run on the
rows; the ones that query per ticket (routing's candidates and loads, the open tier spans, the dedupe keys) are
looked up once per batch and kept up to date in memory, so that each decision sees the loads the earlier
assignments of the batch left — as the one-at-a-time path sees them in the database. All the escalations of a batch
are stamped with one instant: the ticket services' clock, read once.

Every ticket is written by a conditional ``UPDATE ... WHERE id = :id AND version = :read``. Tickets changed by
someone else since they were read are left out of their batch before anything is computed (``still_current``) and
read again by the sweep's next round; one changed in the instant between that check and the write makes the UPDATE
miss and raises ``Conflict`` (nothing of the batch is overwritten; the caller rolls back and the next run redoes it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm.util import identity_key

from portal.extensions import db
from portal.models import (
    OPEN_STATUSES,
    Category,
    EventKind,
    Organization,
    SlaCheck,
    SlaEvent,
    StaffStatus,
    Ticket,
    TicketEvent,
    Tier,
    TierSpan,
    User,
)
from portal.models.tickets import format_reference
from portal.services import csat, escalation, notifications, outbox, routing, sla
from portal.services import tickets as ticket_service
from portal.services.changes import SYSTEM, FieldChange, TicketChange
from portal.services.errors import Conflict
from portal.services.webhooks import events as webhook_events

REASON = "sla_breached"
# What a look at the clock writes, and what an escalation adds to it.
SLA_COLUMNS = sla.CLOCK_COLUMNS
CHANGE_COLUMNS = ("tier", "assignee_id", "version", "updated_at", "routing_flagged_at")
TICKET, EVENTS, SLA_EVENTS, SPANS = Ticket.__table__, TicketEvent.__table__, SlaEvent.__table__, TierSpan.__table__
CHECKS = SlaCheck.__table__
# On PostgreSQL a group of at least this many tickets written alike is one UPDATE … FROM unnest(arrays)
ARRAY_UPDATE_ROWS = 20


class _Event:
    """A buffered ticket event as the steps read ``TicketChange.event`` (its id is not known before the write;
    nothing an escalation runs reads it)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class Row:
    """One due ticket as the batch works on it: its columns as plain attributes (what ``sla.settle``, the rules and
    the notification steps read and write), the related rows they read, and the version it was read at."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.read = values
        self.escalated = False
        self.category: Category | None = None
        self.assignee: User | None = None

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def organization(self) -> Organization | None:  # the webhook payloads only (preloaded when someone subscribes)
        return db.session.get(Organization, self.organization_id) if self.organization_id else None

    @property
    def requester(self) -> User | None:
        return db.session.get(User, self.requester_id)

    def changed_values(self) -> dict[str, Any]:
        """The ticket's columns that changed (the next check is ``check_changed``)."""
        columns = SLA_COLUMNS + (CHANGE_COLUMNS if self.escalated else ())
        return {c: getattr(self, c) for c in columns if getattr(self, c) != self.read[c]}

    @property
    def check_changed(self) -> bool:
        return self.sla_check_at != self.read["sla_check_at"]


def select_due(now: datetime) -> list[Row]:
    """The sweep's next batch (``sla.due_tickets_query``) as plain rows, nothing held by the session: the ticket's
    columns and its next check (``sla_check_at``)."""
    stmt = sla.due_tickets_query(now, sla.SWEEP_BATCH, *TICKET.c, SlaCheck.check_at.label("sla_check_at"))
    return [Row(dict(r._mapping)) for r in db.session.execute(stmt)]


def still_current(rows: list[Row]) -> list[Row]:
    """The rows nobody changed since they were read (their version is still the one read); on PostgreSQL they are
    locked until the transaction ends, so the conditional UPDATEs that follow find them so."""
    if not rows:
        return rows
    stmt = select(Ticket.id, Ticket.version).where(Ticket.id.in_([r.id for r in rows]))
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.order_by(Ticket.id).with_for_update()
    current = dict(db.session.execute(stmt).all())
    return [r for r in rows if current.get(r.id) == r.version]


class Batch:
    """The escalations of one batch of due tickets and what they write (see the module's docstring)."""

    def __init__(
        self,
        rows: list[Row],
        history: dict[int, sla.History],
        recorded: dict[int, set],
        policies: dict,
        buffer: outbox.Buffer,
    ):
        self.rows, self.history, self.recorded, self.policies = rows, history, recorded, policies
        self.buffer = buffer
        self.stamp: datetime | None = None
        self.pools: dict[Tier, tuple[list[User], str | None]] = {}
        self.loads: dict[int, int] = {}
        self.last: dict[int, datetime | None] = {}
        self.load_changes: dict[int, int] = {}  # made by this batch, not yet in the database
        self.stamped: dict[int, datetime] = {}
        self.open_spans: dict[int, list] = {}
        self.span_ends: dict[int, datetime] = {}  # stored span id → its end
        self._preload()

    def _preload(self) -> None:
        """The rows the steps read, in a few queries: categories, assignees, and for the webhook payloads (only when
        someone subscribes) organizations and requesters."""
        categories = {c.id: c for c in db.session.scalars(select(Category))}
        user_ids = {r.assignee_id for r in self.rows if r.assignee_id is not None}
        if any(webhook_events.subscribers(e) for e in ("sla.at_risk", "sla.breached", "ticket.updated")):
            user_ids |= {r.requester_id for r in self.rows}
            org_ids = sorted({r.organization_id for r in self.rows if r.organization_id is not None})
            self._keep = list(db.session.scalars(select(Organization).where(Organization.id.in_(org_ids))))
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(sorted(user_ids))))}
        for row in self.rows:
            row.category = categories.get(row.category_id)
            row.assignee = users.get(row.assignee_id)
        self._users = users

    # ----------------------------------------------------------------------- one escalation

    def escalate(self, row: Row, to_tier: Tier) -> None:
        """``tickets.escalate_ticket(None, row, to_tier=..., reason="sla_breached")`` and its effects, in memory."""
        if self.stamp is None:
            self.stamp = ticket_service.utcnow()
        now = self.stamp
        tier, label, ref = escalation.check_escalation(None, row, to_tier, REASON, None)
        change = FieldChange("tier", row.tier.value, tier.value)
        old, row.tier = row.tier, tier
        row.version += 1
        row.updated_at = now
        row.escalated = True
        event = self.buffer.insert(
            EVENTS,
            {
                "ticket_id": row.id,
                "kind": EventKind.field_change,
                "author_id": SYSTEM.id,
                "body": label + (f" · external issue {ref}" if ref else ""),
                "field": "tier",
                "old_value": old.value,
                "new_value": tier.value,
                "new_user_id": None,
                "ticket_version": row.version,
                "created_at": now,
            },
        )
        escalation.emit_escalation(row, old, tier, REASON, None, ref)
        ticket_change = TicketChange("escalation", row, SYSTEM, [change], event=_Event(event))
        # effects.ticket_changed, step by step
        self._look_at_clock(row, now)
        if tier in (Tier.l2, Tier.manager) and (row.assignee is None or row.assignee.tier != tier.value):
            self._auto_assign(ticket_change, now)
        self._tier_spans(row, tier, now, event["body"][:60])
        notifications.ticket_changed(ticket_change)
        csat.on_ticket_changed(ticket_change)
        outbox.emit("index.ticket", {"ticket_id": row.id})
        webhook_events.ticket_changed(ticket_change)

    def _look_at_clock(self, row: Row, now: datetime) -> None:
        """``sla.on_ticket_changed``: the clock as of the change (an escalation adds nothing to the history)."""
        facts = sla.evaluate(row, now, self.history[row.id], sla.policy_for(row.organization_id, self.policies))
        for crossing in sla.settle(row, facts, self.recorded.setdefault(row.id, set())):
            self.buffer.insert(SLA_EVENTS, {"ticket_id": row.id, **crossing._asdict()})
            if sla.notify_due(facts, crossing.target, crossing.kind):
                sla.notify_crossing(row, crossing.target, crossing.kind)

    def _auto_assign(self, change: TicketChange, now: datetime) -> None:
        """``routing.auto_assign`` with the batch's candidates and loads."""
        row = change.ticket
        tier = routing.tier_for(row)
        if tier not in self.pools:
            self.pools[tier] = routing.candidate_pool(tier, now)
            self._load([u.id for u in self.pools[tier][0]])
        decision = routing.pick(self.pools[tier], row.category.slug if row.category else None, (self.loads, self.last))
        row.routing_flagged_at = None if decision.settled else now
        user = decision.user
        if user is None or user.id == row.assignee_id:
            return
        old = row.assignee.name if row.assignee else None
        if row.is_open:
            self._move_load(row.assignee_id, -1)
            self._move_load(user.id, +1)
        # Like ``routing.auto_assign``: the relationship and its column together, so the notification step that
        # follows tells the new assignee.
        row.assignee, row.assignee_id = user, user.id
        self.last[user.id] = self.stamped[user.id] = now
        self.buffer.insert(
            EVENTS,
            {
                "ticket_id": row.id,
                "kind": EventKind.field_change,
                "author_id": None,
                "field": "assignee",
                "old_value": old,
                "new_value": user.name,
                "new_user_id": user.id,
                "ticket_version": row.version,
                "created_at": now,
            },
        )
        change.changes.append(FieldChange("assignee", old, user.name, user.id))

    def _load(self, user_ids: list[int]) -> None:
        """Open loads (``routing.open_loads``: what the database holds, plus what this batch moved) and last
        assignment instants of people not looked up yet."""
        missing = [i for i in user_ids if i not in self.loads]
        if not missing:
            return
        stored = routing.open_loads(missing)
        for user_id in missing:
            self.loads[user_id] = stored[user_id] + self.load_changes.get(user_id, 0)
        rows = db.session.execute(
            select(StaffStatus.user_id, StaffStatus.last_assigned_at).where(StaffStatus.user_id.in_(missing))
        ).all()
        last = dict(rows)
        for user_id in missing:
            self.last[user_id] = self.stamped.get(user_id, last.get(user_id))

    def _move_load(self, user_id: int | None, delta: int) -> None:
        if user_id is None:
            return
        self.load_changes[user_id] = self.load_changes.get(user_id, 0) + delta
        if user_id in self.loads:
            self.loads[user_id] += delta

    def _tier_spans(self, row: Row, tier: Tier, now: datetime, reason: str) -> None:
        """``escalation.on_ticket_changed``: close the open spans, open one for the new tier."""
        if row.id not in self.open_spans:
            self.open_spans[row.id] = list(
                db.session.execute(
                    select(TierSpan.id, TierSpan.started_at).where(
                        TierSpan.ticket_id == row.id, TierSpan.ended_at.is_(None)
                    )
                ).all()
            )
        for span in self.open_spans[row.id]:
            if isinstance(span, dict):  # opened by this batch
                span["ended_at"] = max(now, span["started_at"])
            else:
                self.span_ends[span.id] = max(now, span.started_at)
        self.open_spans[row.id] = [
            self.buffer.insert(SPANS, {"ticket_id": row.id, "tier": tier, "started_at": now, "reason": reason})
        ]

    def preload_spans(self, ticket_ids: list[int]) -> None:
        """The open tier spans of the tickets that may escalate, in one query."""
        ids = sorted(set(ticket_ids) - set(self.open_spans))
        if not ids:
            return
        for ticket_id in ids:
            self.open_spans[ticket_id] = []
        for start in range(0, len(ids), 500):
            for span in db.session.execute(
                select(TierSpan.ticket_id, TierSpan.id, TierSpan.started_at).where(
                    TierSpan.ticket_id.in_(ids[start : start + 500]), TierSpan.ended_at.is_(None)
                )
            ):
                self.open_spans[span.ticket_id].append(span)

    # ----------------------------------------------------------------------- writing

    def write(self) -> None:
        """The tickets (conditionally on the version read), then the new rows in bulk, the tier spans closed and the
        assignment instants. Raises ``Conflict`` when a ticket changed since ``still_current``."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self.rows:
            values = row.changed_values()
            if values:
                shapes.setdefault(tuple(sorted(values)), []).append(
                    {"_id": row.id, "_version": row.read["version"], **values}
                )
        postgresql = db.engine.dialect.name == "postgresql"
        self._write_checks(postgresql)
        for columns, params in shapes.items():
            if postgresql and len(params) >= ARRAY_UPDATE_ROWS:
                written = _update_from_arrays(columns, params)
            else:
                stmt = (
                    update(TICKET)
                    .where(TICKET.c.id == bindparam("_id"), TICKET.c.version == bindparam("_version"))
                    .values({c: bindparam(c) for c in columns})
                )
                written = db.session.connection().execute(stmt, params).rowcount
            _expect(written, len(params), params[0]["_id"], params[0]["_version"])
        self.buffer.write()
        if self.span_ends:
            stmt = update(TierSpan.__table__).where(TierSpan.__table__.c.id == bindparam("_id"))
            db.session.connection().execute(
                stmt.values(ended_at=bindparam("ended_at")),
                [{"_id": i, "ended_at": at} for i, at in self.span_ends.items()],
            )
        if self.stamped:
            self._write_stamps()
        self._expire()

    def _write_checks(self, postgresql: bool) -> None:
        """The next checks that moved (``sla_checks``; every due row has one): moved on, or gone when nothing is
        pending. Like the tickets' writes, conditional on the ticket still being at the version read (before the
        tickets are written, so the version is the one read)."""
        moved = [r for r in self.rows if r.check_changed and r.sla_check_at is not None]
        gone = [r for r in self.rows if r.check_changed and r.sla_check_at is None]
        connection = db.session.connection()
        if moved:
            if postgresql and len(moved) >= ARRAY_UPDATE_ROWS:
                written = _move_checks_from_arrays(moved)
            else:
                stmt = (
                    update(CHECKS)
                    .where(CHECKS.c.ticket_id == bindparam("_id"), _at_version_read(CHECKS.c.ticket_id))
                    .values(check_at=bindparam("_check_at"))
                )
                params = [{"_id": r.id, "_version": r.read["version"], "_check_at": r.sla_check_at} for r in moved]
                written = connection.execute(stmt, params).rowcount
            _expect(written, len(moved), moved[0].id, moved[0].read["version"])
        if gone:
            stmt = delete(CHECKS).where(CHECKS.c.ticket_id == bindparam("_id"), _at_version_read(CHECKS.c.ticket_id))
            written = connection.execute(stmt, [{"_id": r.id, "_version": r.read["version"]} for r in gone]).rowcount
            _expect(written, len(gone), gone[0].id, gone[0].read["version"])

    def _write_stamps(self) -> None:
        """``routing.stamp_assignment`` for everyone the batch assigned a ticket to."""
        ids = sorted(self.stamped)
        known = set(db.session.scalars(select(StaffStatus.user_id).where(StaffStatus.user_id.in_(ids))))
        table = StaffStatus.__table__
        if known:
            db.session.connection().execute(
                update(table)
                .where(table.c.user_id == bindparam("_id"))
                .values(last_assigned_at=bindparam("last_assigned_at")),
                [{"_id": i, "last_assigned_at": self.stamped[i]} for i in ids if i in known],
            )
        new = [i for i in ids if i not in known]
        if new:
            db.session.execute(
                insert(table),
                [
                    {"user_id": i, "is_away": False, "away_since": None, "last_assigned_at": self.stamped[i]}
                    for i in new
                ],
            )

    def _expire(self) -> None:
        """Objects of the rows written that the session may hold go stale: they are read again when next used."""
        session = db.session()
        keys = [identity_key(Ticket, (r.id,)) for r in self.rows]
        keys += [identity_key(StaffStatus, (i,)) for i in self.stamped]
        for key in keys:
            obj = session.identity_map.get(key)
            if obj is not None:
                session.expire(obj)
        if self.open_spans:
            for obj in list(session.identity_map.values()):
                if isinstance(obj, TierSpan) and obj.ticket_id in self.open_spans:
                    session.expire(obj)


def _at_version_read(ticket_id):
    """``ticket_id``'s ticket is still at the version ``:_version``."""
    return select(TICKET.c.id).where(TICKET.c.id == ticket_id, TICKET.c.version == bindparam("_version")).exists()


def _expect(written: int, wanted: int, ticket_id: int, version: int) -> None:
    """A conditional write reached every row it was meant for, else ``Conflict`` (naming the group's first ticket)."""
    if written != wanted:
        raise Conflict(
            "A ticket changed while the SLA sweep wrote it; nothing was overwritten, run the sweep again.",
            ticket_id=ticket_id,
            expected_version=version,
        )


def _move_checks_from_arrays(rows: list[Row]) -> int:
    """``_write_checks``' UPDATE for many tickets in one statement (PostgreSQL), like ``_update_from_arrays``."""
    arrays = func.unnest(
        bindparam("_ids", [r.id for r in rows], type_=ARRAY(Integer)),
        bindparam("_versions", [r.read["version"] for r in rows], type_=ARRAY(Integer)),
        bindparam("_checks", [r.sla_check_at for r in rows], type_=ARRAY(CHECKS.c.check_at.type)),
    )
    moved = arrays.table_valued("row_id", "read_version", "new_check_at").render_derived(name="u")
    stmt = (
        update(CHECKS)
        .where(
            CHECKS.c.ticket_id == moved.c.row_id,
            TICKET.c.id == moved.c.row_id,
            TICKET.c.version == moved.c.read_version,
        )
        .values(check_at=moved.c.new_check_at)
    )
    return db.session.connection().execute(stmt).rowcount


def _update_from_arrays(columns: tuple[str, ...], params: list[dict[str, Any]]) -> int:
    """One UPDATE for many tickets (PostgreSQL): the ids, versions read and new values travel as one array per
    column and are joined to the tickets by id (``unnest``), so a batch of thousands costs one statement instead of
    one per ticket. The same condition as row by row: a ticket is written only at the version read."""
    arrays = [
        bindparam("_ids", [p["_id"] for p in params], type_=ARRAY(Integer)),
        bindparam("_versions", [p["_version"] for p in params], type_=ARRAY(Integer)),
    ]
    arrays += [bindparam(f"_v_{c}", [p[c] for p in params], type_=ARRAY(TICKET.c[c].type)) for c in columns]
    names = ["row_id", "read_version", *(f"new_{c}" for c in columns)]
    rows = func.unnest(*arrays).table_valued(*names).render_derived(name="u")
    stmt = (
        update(TICKET)
        .where(TICKET.c.id == rows.c.row_id, TICKET.c.version == rows.c.read_version)
        .values({c: rows.c[f"new_{c}"] for c in columns})
    )
    return db.session.connection().execute(stmt).rowcount
