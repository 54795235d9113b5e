"""the counting triggers also keep the at-risk count (against a checkpoint instant) and customers' open and solved
counts per organization and requester

Revision ID: 0024_risk_and_customer_counters
Revises: 0023_search_log_buffer
"""

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0024_risk_and_customer_counters"
down_revision = "0023_search_log_buffer"
branch_labels = None
depends_on = None

OPEN = "('new', 'open', 'pending', 'on_hold')"
COUNTED = "('new', 'open', 'pending', 'on_hold', 'solved')"  # a ticket in any other status is in no counter
# Every column a counter depends on: an UPDATE that sets none of them leaves every counter as it was.
COLUMNS = (
    "status, tier, assignee_id, organization_id, requester_id, "
    "first_response_at, first_response_risk_at, paused_since, resolution_risk_at"
)


def _families(row: str, checkpoint: str) -> list[str]:
    """The key each counter family puts the ticket ``row`` in, or NULL when it is in none of the family's keys. A
    change moves the ticket out of the old row's key (-1) and into the new row's (+1) wherever the two differ.
    ``checkpoint``: the checkpoint instant T of the at-risk counter, as an SQL expression (NULL: none yet, nothing
    is at risk at T)."""
    is_open, solved = f"{row}.status IN {OPEN}", f"{row}.status = 'solved'"
    state = f"CASE WHEN {is_open} THEN 'open' WHEN {solved} THEN 'solved' END"
    open_or_solved = f"CASE WHEN {is_open} THEN '_open:' WHEN {solved} THEN '_solved:' END"
    # exactly portal.services.counters.at_risk_condition evaluated at T
    at_risk = (
        f"CASE WHEN {is_open} AND ("
        f"({row}.first_response_at IS NULL AND {row}.first_response_risk_at <= {checkpoint}) OR "
        f"({row}.paused_since IS NULL AND {row}.resolution_risk_at <= {checkpoint})) THEN 'at_risk' END"
    )
    return [
        state,
        f"CASE WHEN {is_open} THEN 'tier:' || {row}.tier END",
        f"CASE WHEN {is_open} THEN CASE WHEN {row}.assignee_id IS NULL THEN 'unassigned' "
        f"ELSE 'assignee:' || {row}.assignee_id END END",
        f"'org' || {open_or_solved} || {row}.organization_id",
        f"'req' || {open_or_solved} || {row}.requester_id",
        f"'req_org' || {open_or_solved} || {row}.requester_id || ':' || {row}.organization_id",
        at_risk,
    ]


SQLITE_CHECKPOINT = "(SELECT at FROM queue_counter_checkpoints WHERE name = 'at_risk')"


# The update triggers, each over the columns its families depend on: (name suffix, columns, family indexes).
SQLITE_UPDATE_GROUPS = (
    ("update", "status, tier, assignee_id", (0, 1, 2)),
    ("update_customer", "status, organization_id, requester_id", (3, 4, 5)),
    ("update_risk", "status, first_response_at, first_response_risk_at, paused_since, resolution_risk_at", (6,)),
)
SQLITE_TRIGGERS = ("insert", "delete", *(suffix for suffix, _columns, _families in SQLITE_UPDATE_GROUPS))


def _sqlite_triggers() -> list[str]:
    """SQLite has one writer at a time: the checkpoint a trigger reads cannot move before the writer commits. An
    UPDATE runs a trigger's body only when its WHEN finds a key that differs (most updates change none)."""
    new, old = _families("NEW", SQLITE_CHECKPOINT), _families("OLD", SQLITE_CHECKPOINT)
    keys = {row: " UNION ALL ".join(f"SELECT {k} AS k" for k in family) for row, family in (("NEW", new), ("OLD", old))}
    statements = [
        f"""CREATE TRIGGER tickets_queue_counters_insert AFTER INSERT ON tickets WHEN NEW.status IN {COUNTED}
        BEGIN
            INSERT INTO queue_counter_deltas (key, delta) SELECT k, 1 FROM ({keys["NEW"]}) WHERE k IS NOT NULL;
        END""",
        f"""CREATE TRIGGER tickets_queue_counters_delete AFTER DELETE ON tickets WHEN OLD.status IN {COUNTED}
        BEGIN
            INSERT INTO queue_counter_deltas (key, delta) SELECT k, -1 FROM ({keys["OLD"]}) WHERE k IS NOT NULL;
        END""",
    ]
    for suffix, columns, indexes in SQLITE_UPDATE_GROUPS:
        moved = " OR ".join(f"({old[i]}) IS NOT ({new[i]})" for i in indexes)
        pairs = " UNION ALL ".join(f"SELECT {old[i]} AS o, {new[i]} AS n" for i in indexes)
        statements.append(
            f"""CREATE TRIGGER tickets_queue_counters_{suffix} AFTER UPDATE OF {columns} ON tickets
            WHEN (OLD.status IN {COUNTED} OR NEW.status IN {COUNTED}) AND ({moved})
            BEGIN
                INSERT INTO queue_counter_deltas (key, delta)
                SELECT CASE WHEN s.d < 0 THEN p.o ELSE p.n END, s.d
                FROM ({pairs}) AS p, (SELECT -1 AS d UNION ALL SELECT 1) AS s
                WHERE p.o IS NOT p.n AND (CASE WHEN s.d < 0 THEN p.o ELSE p.n END) IS NOT NULL;
            END"""
        )
    return statements


def _risk_inputs(row: str) -> str:
    return (
        f"({row}.status IN {OPEN}, {row}.first_response_at IS NULL, {row}.first_response_risk_at, "
        f"{row}.paused_since IS NULL, {row}.resolution_risk_at)"
    )


def _may_be_at_risk(row: str) -> str:
    """Whether the ticket is at risk at some instant (then its at-risk key depends on the checkpoint)."""
    return (
        f"({row}.status IN {OPEN} AND (({row}.first_response_at IS NULL AND {row}.first_response_risk_at IS NOT NULL)"
        f" OR ({row}.paused_since IS NULL AND {row}.resolution_risk_at IS NOT NULL)))"
    )


def _array(row: str) -> str:
    return "ARRAY[" + ", ".join(_families(row, "checkpoint")[:-1]) + ", NULL]::text[]"


POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION queue_counters_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_keys text[] := array_fill(NULL::text, ARRAY[7]);
    new_keys text[] := array_fill(NULL::text, ARRAY[7]);
    checkpoint timestamptz;
BEGIN
    IF (TG_OP = 'INSERT' OR OLD.status NOT IN {COUNTED}) AND (TG_OP = 'DELETE' OR NEW.status NOT IN {COUNTED}) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_keys := {_array("OLD")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_keys := {_array("NEW")};
    END IF;
    -- The at-risk key depends on the checkpoint instant T: read it only when this change can move the ticket in or
    -- out of it, share-locked, so that advancing T (which updates that row) waits for this transaction and this
    -- one, if it comes second, reads the new T.
    IF (TG_OP <> 'UPDATE' OR {_risk_inputs("OLD")} IS DISTINCT FROM {_risk_inputs("NEW")})
        AND ((TG_OP <> 'INSERT' AND {_may_be_at_risk("OLD")}) OR (TG_OP <> 'DELETE' AND {_may_be_at_risk("NEW")}))
    THEN
        SELECT at INTO checkpoint FROM queue_counter_checkpoints WHERE name = 'at_risk' FOR SHARE;
        IF TG_OP <> 'INSERT' THEN
            old_keys[7] := {_families("OLD", "checkpoint")[-1]};
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_keys[7] := {_families("NEW", "checkpoint")[-1]};
        END IF;
    END IF;
    IF old_keys IS DISTINCT FROM new_keys THEN
        INSERT INTO queue_counter_deltas (key, delta)
        SELECT v.k, v.d
        FROM unnest(old_keys, new_keys) AS p(o, n), LATERAL (VALUES (p.o, -1), (p.n, 1)) AS v(k, d)
        WHERE p.o IS DISTINCT FROM p.n AND v.k IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGER = f"""
CREATE TRIGGER tickets_queue_counters
AFTER INSERT OR DELETE OR UPDATE OF {COLUMNS} ON tickets
FOR EACH ROW EXECUTE FUNCTION queue_counters_track()
"""

CHECKPOINT = "(SELECT at FROM queue_counter_checkpoints WHERE name = 'at_risk')"
FILL = f"""
INSERT INTO queue_counters (key, count)
SELECT 'solved', COUNT(*) FROM tickets WHERE status = 'solved'
UNION ALL
SELECT 'org_open:' || organization_id, COUNT(*) FROM tickets
WHERE status IN {OPEN} AND organization_id IS NOT NULL GROUP BY organization_id
UNION ALL
SELECT 'org_solved:' || organization_id, COUNT(*) FROM tickets
WHERE status = 'solved' AND organization_id IS NOT NULL GROUP BY organization_id
UNION ALL
SELECT 'req_open:' || requester_id, COUNT(*) FROM tickets WHERE status IN {OPEN} GROUP BY requester_id
UNION ALL
SELECT 'req_solved:' || requester_id, COUNT(*) FROM tickets WHERE status = 'solved' GROUP BY requester_id
UNION ALL
SELECT 'req_org_open:' || requester_id || ':' || organization_id, COUNT(*) FROM tickets
WHERE status IN {OPEN} AND organization_id IS NOT NULL GROUP BY requester_id, organization_id
UNION ALL
SELECT 'req_org_solved:' || requester_id || ':' || organization_id, COUNT(*) FROM tickets
WHERE status = 'solved' AND organization_id IS NOT NULL GROUP BY requester_id, organization_id
UNION ALL
SELECT 'at_risk', COUNT(*) FROM tickets WHERE status IN {OPEN} AND (
    (first_response_at IS NULL AND first_response_risk_at <= {CHECKPOINT})
    OR (paused_since IS NULL AND resolution_risk_at <= {CHECKPOINT}))
"""
NEW_KEYS = "key = 'solved' OR key = 'at_risk' OR key LIKE 'org\\_%' ESCAPE '\\' OR key LIKE 'req\\_%' ESCAPE '\\'"


def _previous():
    """The trigger definitions of ``0022_queue_counters``, which the downgrade puts back."""
    path = Path(__file__).with_name("0022_queue_counters.py")
    spec = importlib.util.spec_from_file_location("_queue_counters_0022", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    postgresql = op.get_context().dialect.name == "postgresql"
    checkpoints = op.create_table(
        "queue_counter_checkpoints",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queue_counter_checkpoints")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(checkpoints, [{"name": "at_risk", "at": now if postgresql else now.replace(tzinfo=None)}])
    if postgresql:
        op.execute("LOCK TABLE tickets IN SHARE MODE")  # no ticket changes between the fill and the new trigger
        op.execute("DROP TRIGGER IF EXISTS tickets_queue_counters ON tickets")
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS tickets_queue_counters_{name}")
        for statement in _sqlite_triggers():
            op.execute(statement)
    op.execute(f"DELETE FROM queue_counter_deltas WHERE {NEW_KEYS}")
    op.execute(f"DELETE FROM queue_counters WHERE {NEW_KEYS}")
    op.execute(FILL)
    if (
        not postgresql
        and op.get_bind().exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
    ):
        # The table now holds a row per organization and requester: statistics from when it held a few dozen make
        # the planner scan it for a lookup of six keys (PostgreSQL's planner sees the table's real size itself).
        op.execute("ANALYZE queue_counters")


def downgrade():
    previous = _previous()
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tickets_queue_counters ON tickets")
        op.execute(previous.POSTGRESQL_FUNCTION)
        op.execute(previous.POSTGRESQL_TRIGGER)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS tickets_queue_counters_{name}")
        for statement in previous._sqlite_triggers():
            op.execute(statement)
    op.execute(f"DELETE FROM queue_counter_deltas WHERE {NEW_KEYS}")
    op.execute(f"DELETE FROM queue_counters WHERE {NEW_KEYS}")
    op.drop_table("queue_counter_checkpoints")
