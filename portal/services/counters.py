"""Reading and keeping the ticket counters (``portal.models.counters``).

The triggers of migrations ``0022_queue_counters`` and ``0024_risk_and_customer_counters`` append a delta row for
every change a ticket write makes to a counter, in the writer's own transaction, so a count is never stale after a
change and costs the same at any size: a counter is its base row plus its pending deltas (``values``). ``compact``
folds the deltas into the base rows and ``advance_checkpoint`` moves the at-risk counter's instant to the present
(the periodic job); ``recount`` rebuilds everything from the tickets (the repair command ``flask tickets recount``)
and ``mismatches`` compares the counters with the tickets (``flask tickets recount --check``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, case, func, literal, or_, select, text, union_all, update

from portal.extensions import db
from portal.models import OPEN_STATUSES, Status, Ticket, Tier
from portal.models.counters import QueueCounter, QueueCounterCheckpoint, QueueCounterDelta

OPEN, SOLVED, UNASSIGNED, AT_RISK = "open", "solved", "unassigned", "at_risk"


def tier_key(tier: Tier | str) -> str:
    return f"tier:{Tier(tier).value}"


def assignee_key(user_id: int) -> str:
    return f"assignee:{user_id}"


def org_key(state: str, organization_id: int) -> str:
    """``state``: ``open`` or ``solved``; the organization's tickets in it."""
    return f"org_{state}:{organization_id}"


def requester_key(state: str, user_id: int) -> str:
    return f"req_{state}:{user_id}"


def requester_org_key(state: str, user_id: int, organization_id: int) -> str:
    """The requester's tickets filed under the organization (counted both by its ``org_`` and its ``req_`` key)."""
    return f"req_org_{state}:{user_id}:{organization_id}"


_VALUES = select(
    (
        subquery := union_all(
            select(QueueCounter.key, QueueCounter.count.label("n")).where(
                QueueCounter.key.in_(bindparam("keys", expanding=True))
            ),
            select(QueueCounterDelta.key, QueueCounterDelta.delta.label("n")).where(
                QueueCounterDelta.key.in_(bindparam("keys", expanding=True))
            ),
        ).subquery()
    ).c.key,
    func.sum(subquery.c.n),
).group_by(subquery.c.key)


def values(keys: Iterable[str]) -> dict[str, int]:
    """The current value of each counter in ``keys`` (0 for a key nobody has counted yet), in one statement: each
    key is an index lookup in the base table and a range of the (small) delta table."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    rows = db.session.execute(_VALUES, {"keys": keys}).all()
    return dict.fromkeys(keys, 0) | {key: int(n or 0) for key, n in rows}


def open_loads(user_ids: Iterable[int]) -> dict[int, int]:
    """Open tickets assigned to each of ``user_ids``."""
    ids = list(user_ids)
    found = values(assignee_key(i) for i in ids)
    return {i: found[assignee_key(i)] for i in ids}


def compact() -> int:
    """Fold the pending deltas into the base rows; returns how many delta rows were folded. Exact under concurrent
    writers: the rows folded are exactly those this statement deleted (DELETE … RETURNING), and a writer's deltas
    not yet committed stay for the next run. The caller commits."""
    deleted = db.session.execute(
        QueueCounterDelta.__table__.delete().returning(QueueCounterDelta.key, QueueCounterDelta.delta)
    ).all()
    totals: dict[str, int] = {}
    for key, delta in deleted:
        totals[key] = totals.get(key, 0) + delta
    changed = [{"key": key, "n": n} for key, n in sorted(totals.items()) if n]
    if changed:
        db.session.execute(_upsert_statement(), changed)
    return len(deleted)


def _upsert_statement():
    """``INSERT … ON CONFLICT (key) DO UPDATE SET count = count + excluded`` in the session's dialect."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(QueueCounter).values(key=bindparam("key"), count=bindparam("n"))
    return stmt.on_conflict_do_update(
        index_elements=[QueueCounter.key], set_={"count": QueueCounter.count + stmt.excluded.count}
    )


def _open():
    return Ticket.status.in_([s.value for s in OPEN_STATUSES])


def _who():
    return case(
        (Ticket.assignee_id.is_(None), literal(UNASSIGNED)),
        else_=literal("assignee:") + func.cast(Ticket.assignee_id, db.String),
    )


def _text(column):
    return func.cast(column, db.String)


def actual(at: datetime | None = None) -> dict[str, int]:
    """Every counter as computed from the tickets themselves (full scans), the at-risk counter at the checkpoint
    instant ``at`` (None: no checkpoint, nothing is counted at risk)."""
    result = {OPEN: db.session.scalar(select(func.count()).select_from(Ticket).where(_open())) or 0}
    result[SOLVED] = db.session.scalar(select(func.count()).where(Ticket.status == Status.solved)) or 0
    for tier, n in db.session.execute(select(Ticket.tier, func.count()).where(_open()).group_by(Ticket.tier)):
        result[tier_key(tier)] = n
    who = _who().label("who")
    for key, n in db.session.execute(select(who, func.count()).where(_open()).group_by(who)):
        result[key] = n
    state = case((_open(), literal(OPEN)), else_=literal(SOLVED)).label("state")
    counted = Ticket.status.in_([*(s.value for s in OPEN_STATUSES), Status.solved.value])
    grouped = select(state, Ticket.organization_id, Ticket.requester_id, func.count()).where(counted)
    for st, org, requester, n in db.session.execute(
        grouped.group_by(state, Ticket.organization_id, Ticket.requester_id)
    ):
        for key in (
            requester_key(st, requester),
            *((org_key(st, org), requester_org_key(st, requester, org)) if org is not None else ()),
        ):
            result[key] = result.get(key, 0) + n
    if at is not None:
        result[AT_RISK] = db.session.scalar(select(func.count()).where(at_risk_condition(at))) or 0
    return result


def checkpoint() -> datetime | None:
    """The instant the at-risk counter counts at (None before the first ``advance_checkpoint``/``recount``)."""
    return db.session.scalar(select(QueueCounterCheckpoint.at).where(QueueCounterCheckpoint.name == AT_RISK))


def advance_checkpoint(now: datetime) -> int:
    """Move the at-risk counter's instant T to ``now``: the tickets that became at risk between the old T and
    ``now`` (or stopped being, when ``now`` is earlier) are added to the counter as one delta, and T moves, in the
    caller's transaction (the caller commits). Returns the delta.

    Race-free with any writer: the first statement writes the checkpoint row, which on PostgreSQL waits for every
    transaction whose trigger read the old T (they share-lock the row; those have then committed and the count below
    sees their tickets) and makes every later one wait until this commits (their triggers then read the new T); on
    SQLite it takes the database's one write lock. Without a checkpoint row (T unknown, nothing counted), the tickets
    are share-locked (PostgreSQL) while the row is created: no trigger can read "no row" concurrently."""
    locked = db.session.execute(
        update(QueueCounterCheckpoint)
        .where(QueueCounterCheckpoint.name == AT_RISK)
        .values(at=QueueCounterCheckpoint.at)
        .returning(QueueCounterCheckpoint.at)
    ).first()
    if locked is None:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("LOCK TABLE tickets IN SHARE MODE"))
        db.session.add(QueueCounterCheckpoint(name=AT_RISK, at=now))
        db.session.flush()
        # whatever the counter says (nothing is at risk at no instant: 0, unless the row was lost) becomes exact
        counted = values([AT_RISK])[AT_RISK]
        delta = risk_range_count(None, now) - counted
    else:
        old = locked[0]
        if old == now:
            return 0
        lo, hi, sign = (old, now, 1) if old < now else (now, old, -1)
        delta = sign * risk_range_count(lo, hi)
        db.session.execute(update(QueueCounterCheckpoint).where(QueueCounterCheckpoint.name == AT_RISK).values(at=now))
    if delta:
        db.session.add(QueueCounterDelta(key=AT_RISK, delta=delta))
        db.session.flush()
    return delta


def stored() -> dict[str, int]:
    """Every non-zero counter as the counters say (base plus deltas)."""
    rows = db.session.execute(
        select(
            (
                s := union_all(
                    select(QueueCounter.key, QueueCounter.count.label("n")),
                    select(QueueCounterDelta.key, QueueCounterDelta.delta.label("n")),
                ).subquery()
            ).c.key,
            func.sum(s.c.n),
        ).group_by(s.c.key)
    ).all()
    return {key: int(n) for key, n in rows if n}


def mismatches() -> dict[str, tuple[int, int]]:
    """``{key: (stored, actual)}`` for every counter that differs from the tickets (empty when all are exact)."""
    have, want = stored(), actual(checkpoint())
    return {
        key: (have.get(key, 0), want.get(key, 0))
        for key in sorted(set(have) | set(want))
        if have.get(key, 0) != want.get(key, 0)
    }


def recount(now: datetime | None = None) -> dict[str, int]:
    """Rebuild every counter from the tickets (the repair command), the at-risk counter's instant set to ``now``
    (default: the present). On PostgreSQL ticket writers wait for it (SHARE lock) so that nothing changes between
    the count and the write; on SQLite the database's one writer is us. The caller commits."""
    from portal.models import utcnow

    now = now or utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE tickets IN SHARE MODE"))
    db.session.execute(QueueCounterDelta.__table__.delete())
    db.session.execute(QueueCounter.__table__.delete())
    db.session.execute(QueueCounterCheckpoint.__table__.delete())
    db.session.execute(QueueCounterCheckpoint.__table__.insert(), {"name": AT_RISK, "at": now})
    counts = actual(now)
    counts.setdefault(OPEN, 0)
    db.session.execute(QueueCounter.__table__.insert(), [{"key": key, "count": n} for key, n in sorted(counts.items())])
    return counts


def disable_triggers(connection: Connection) -> list[str]:
    """Bulk loads (the benchmark generator) set the counting triggers aside and run ``recount`` afterwards. Returns
    what ``enable_triggers`` needs to restore them."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE tickets DISABLE TRIGGER tickets_queue_counters"))
        return []
    saved = connection.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tickets_queue_counters_%'")
    ).all()
    for name, _sql in saved:
        connection.execute(text(f'DROP TRIGGER "{name}"'))
    return [sql for _name, sql in saved]


def enable_triggers(connection: Connection, saved: list[str]) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE tickets ENABLE TRIGGER tickets_queue_counters"))
        return
    for sql in saved:
        connection.execute(text(sql))


# --------------------------------------------------------------------------- the at-risk count


def at_risk_condition(now):
    """Open tickets past a target's at-risk instant (breached included) whose clock still runs."""
    return and_(
        is_open(),
        or_(
            and_(Ticket.first_response_at.is_(None), Ticket.first_response_risk_at <= now),
            and_(Ticket.paused_since.is_(None), Ticket.resolution_risk_at <= now),
        ),
    )


def is_open():
    """``status IN ('new', 'open', 'pending', 'on_hold')`` with the values rendered inline, so the planners of SQLite
    and PostgreSQL can use the partial indexes declared on ``Ticket`` (they cannot with bound parameters)."""
    return Ticket.status.in_(
        bindparam("open_statuses", [s.value for s in OPEN_STATUSES], expanding=True, literal_execute=True, unique=True)
    )


_COUNTER_AT_RISK = select(
    func.coalesce(select(QueueCounter.count).where(QueueCounter.key == AT_RISK).scalar_subquery(), 0)
    + func.coalesce(
        select(func.sum(QueueCounterDelta.delta)).where(QueueCounterDelta.key == AT_RISK).scalar_subquery(),
        0,
    )
).scalar_subquery()
_CHECKPOINT = select(QueueCounterCheckpoint.at).where(QueueCounterCheckpoint.name == AT_RISK).scalar_subquery()


def at_risk_count(now) -> int:
    """Open tickets at risk at ``now`` (``at_risk_condition``): the ``at_risk`` counter, which counts them at the
    checkpoint instant T, plus those that became at risk between T and ``now`` (minus those that were at risk at T
    but not yet at ``now``, when ``now`` is earlier) — the range (T, now] of the two partial indexes of running
    clocks, a minute's worth of tickets whatever the size. The counter, T and the range are read by one statement
    (one snapshot); T is also given to it as a constant (so the planner sees the range), and should the job have
    moved T in between, the statement runs again with the new T."""
    checkpoint = db.session.scalar(_READ_CHECKPOINT)
    for _attempt in range(5):
        if checkpoint is None or checkpoint <= now:
            lo, hi, sign = checkpoint, now, 1
        else:
            lo, hi, sign = now, checkpoint, -1
        stmt = _READ_AT_RISK[lo is not None]
        seen, counted, between = db.session.execute(stmt, {"lo": lo, "hi": hi}).one()
        if seen == checkpoint:
            return int(counted) + sign * int(between)
        checkpoint = seen
    return db.session.scalar(select(func.count()).where(at_risk_condition(now))) or 0  # T moving every instant


def risk_range_count(lo, hi) -> int:
    """The number of tickets at risk at ``hi`` (``at_risk_condition``) but not at ``lo`` (``lo`` <= ``hi``; None:
    at no instant) — see ``_risk_range``."""
    return db.session.scalar(_RISK_RANGE[lo is not None], {"lo": lo, "hi": hi}) or 0


def _risk_range(bounded: bool):
    """The number of tickets at risk at the parameter ``hi`` but not at ``lo`` (``bounded``; else at no instant), as
    a column: those whose first-response risk instant lies in (lo, hi] with that clock running (and not at risk at
    ``lo`` by resolution), plus those whose resolution risk instant lies in (lo, hi] with that clock running and not
    counted by the first part. Each part is a range of its partial index (``ix_tickets_open_fr_risk``,
    ``ix_tickets_open_res_risk``); no ticket is in both. Built once per variant: building such a statement costs
    more than running it."""
    lo, hi = bindparam("lo"), bindparam("hi")
    fr_window = [Ticket.first_response_risk_at <= hi]
    res_window = [Ticket.resolution_risk_at <= hi]
    fr_part = [is_open(), Ticket.first_response_at.is_(None)]
    res_part = [is_open(), Ticket.paused_since.is_(None)]
    if bounded:
        fr_window.insert(0, Ticket.first_response_risk_at > lo)
        res_window.insert(0, Ticket.resolution_risk_at > lo)
        # not at risk at lo by the other clock (at lo by its own clock it is not: its instant is after lo)
        fr_part.append(
            or_(Ticket.paused_since.is_not(None), Ticket.resolution_risk_at.is_(None), Ticket.resolution_risk_at > lo)
        )
    # not at risk at hi by the first-response clock (then the first part counts it)
    res_part.append(
        or_(
            Ticket.first_response_at.is_not(None),
            Ticket.first_response_risk_at.is_(None),
            Ticket.first_response_risk_at > hi,
        )
    )
    first = select(func.count()).select_from(Ticket).where(*fr_part, *fr_window).scalar_subquery()
    second = select(func.count()).select_from(Ticket).where(*res_part, *res_window).scalar_subquery()
    return (first + second).label("between")


_READ_CHECKPOINT = select(_CHECKPOINT)
_RISK_RANGE = {bounded: select(_risk_range(bounded)) for bounded in (True, False)}
_READ_AT_RISK = {bounded: select(_CHECKPOINT, _COUNTER_AT_RISK, _risk_range(bounded)) for bounded in (True, False)}
