"""Reading and keeping the open-ticket counters (``portal.models.counters``).

The triggers of migration ``0022_queue_counters`` append a delta row for every change a ticket write makes to a
counter, in the writer's own transaction, so a count is never stale after a change and costs the same at any size:
a counter is its base row plus its pending deltas (``values``). ``compact`` folds the deltas into the base rows (a
periodic job); ``recount`` rebuilds everything from the tickets (the repair command ``flask tickets recount``) and
``mismatches`` compares the counters with the tickets (``flask tickets recount --check``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, case, func, literal, select, text, union_all

from portal.extensions import db
from portal.models import OPEN_STATUSES, Ticket, Tier
from portal.models.counters import QueueCounter, QueueCounterDelta

OPEN, UNASSIGNED = "open", "unassigned"


def tier_key(tier: Tier | str) -> str:
    return f"tier:{Tier(tier).value}"


def assignee_key(user_id: int) -> str:
    return f"assignee:{user_id}"


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


def actual() -> dict[str, int]:
    """Every counter as computed from the tickets themselves (a full scan of the open tickets)."""
    result = {OPEN: db.session.scalar(select(func.count()).select_from(Ticket).where(_open())) or 0}
    for tier, n in db.session.execute(select(Ticket.tier, func.count()).where(_open()).group_by(Ticket.tier)):
        result[tier_key(tier)] = n
    who = _who().label("who")
    for key, n in db.session.execute(select(who, func.count()).where(_open()).group_by(who)):
        result[key] = n
    return result


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
    have, want = stored(), actual()
    return {
        key: (have.get(key, 0), want.get(key, 0))
        for key in sorted(set(have) | set(want))
        if have.get(key, 0) != want.get(key, 0)
    }


def recount() -> dict[str, int]:
    """Rebuild every counter from the tickets (the repair command). On PostgreSQL ticket writers wait for it (SHARE
    lock) so that nothing changes between the count and the write; on SQLite the database's one writer is us. The
    caller commits."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE tickets IN SHARE MODE"))
    db.session.execute(QueueCounterDelta.__table__.delete())
    db.session.execute(QueueCounter.__table__.delete())
    counts = actual()
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
