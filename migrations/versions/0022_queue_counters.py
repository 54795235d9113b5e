"""open-ticket counters kept by triggers: queue counts and per-person open loads

Revision ID: 0022_queue_counters
Revises: 0021_webhooks
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_queue_counters"
down_revision = "0021_webhooks"
branch_labels = None
depends_on = None

OPEN = "('new', 'open', 'pending', 'on_hold')"


def _who(row: str) -> str:
    return f"CASE WHEN {row}.assignee_id IS NULL THEN 'unassigned' ELSE 'assignee:' || {row}.assignee_id END"


def _sqlite_triggers() -> list[str]:
    was, now = f"OLD.status IN {OPEN}", f"NEW.status IN {OPEN}"
    tier_moved = "OLD.tier IS NOT NEW.tier"
    who_moved = "OLD.assignee_id IS NOT NEW.assignee_id"
    # One candidate row per (key, sign); each kept only when the change moves the ticket out of or into that key.
    candidates = [
        ("'open'", -1, f"{was} AND NOT {now}"),
        ("'open'", 1, f"{now} AND NOT {was}"),
        ("'tier:' || OLD.tier", -1, f"{was} AND (NOT {now} OR {tier_moved})"),
        ("'tier:' || NEW.tier", 1, f"{now} AND (NOT {was} OR {tier_moved})"),
        (_who("OLD"), -1, f"{was} AND (NOT {now} OR {who_moved})"),
        (_who("NEW"), 1, f"{now} AND (NOT {was} OR {who_moved})"),
    ]
    selects = " UNION ALL ".join(f"SELECT {key}, {sign} WHERE {keep}" for key, sign, keep in candidates)
    return [
        f"""CREATE TRIGGER tickets_queue_counters_insert AFTER INSERT ON tickets WHEN NEW.status IN {OPEN}
        BEGIN
            INSERT INTO queue_counter_deltas (key, delta)
            VALUES ('open', 1), ('tier:' || NEW.tier, 1), ({_who("NEW")}, 1);
        END""",
        f"""CREATE TRIGGER tickets_queue_counters_delete AFTER DELETE ON tickets WHEN OLD.status IN {OPEN}
        BEGIN
            INSERT INTO queue_counter_deltas (key, delta)
            VALUES ('open', -1), ('tier:' || OLD.tier, -1), ({_who("OLD")}, -1);
        END""",
        f"""CREATE TRIGGER tickets_queue_counters_update AFTER UPDATE OF status, tier, assignee_id ON tickets
        WHEN OLD.status IN {OPEN} OR NEW.status IN {OPEN}
        BEGIN
            INSERT INTO queue_counter_deltas (key, delta) {selects};
        END""",
    ]


POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION queue_counters_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := false;
    is_open boolean := false;
    old_tier text;
    new_tier text;
    old_who text;
    new_who text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was_open := OLD.status IN {OPEN};
        old_tier := 'tier:' || OLD.tier;
        old_who := {_who("OLD")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_open := NEW.status IN {OPEN};
        new_tier := 'tier:' || NEW.tier;
        new_who := {_who("NEW")};
    END IF;
    IF was_open OR is_open THEN
        INSERT INTO queue_counter_deltas (key, delta)
        SELECT k, d FROM (VALUES
            ('open', -1, was_open AND NOT is_open),
            ('open', 1, is_open AND NOT was_open),
            (old_tier, -1, was_open AND (NOT is_open OR old_tier IS DISTINCT FROM new_tier)),
            (new_tier, 1, is_open AND (NOT was_open OR old_tier IS DISTINCT FROM new_tier)),
            (old_who, -1, was_open AND (NOT is_open OR old_who IS DISTINCT FROM new_who)),
            (new_who, 1, is_open AND (NOT was_open OR old_who IS DISTINCT FROM new_who))
        ) AS v(k, d, keep)
        WHERE keep;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGER = """
CREATE TRIGGER tickets_queue_counters
AFTER INSERT OR DELETE OR UPDATE OF status, tier, assignee_id ON tickets
FOR EACH ROW EXECUTE FUNCTION queue_counters_track()
"""

RECOUNT = f"""
INSERT INTO queue_counters (key, count)
SELECT 'open', COUNT(*) FROM tickets WHERE status IN {OPEN}
UNION ALL
SELECT 'tier:' || tier, COUNT(*) FROM tickets WHERE status IN {OPEN} GROUP BY tier
UNION ALL
SELECT {_who("tickets")}, COUNT(*) FROM tickets WHERE status IN {OPEN} GROUP BY assignee_id
"""


def upgrade():
    op.create_table(
        "queue_counters",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_queue_counters")),
    )
    op.create_table(
        "queue_counter_deltas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_counter_deltas")),
    )
    op.create_index("ix_queue_counter_deltas_key", "queue_counter_deltas", ["key"])
    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)
    op.execute(RECOUNT)


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tickets_queue_counters ON tickets")
        op.execute("DROP FUNCTION IF EXISTS queue_counters_track()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS tickets_queue_counters_{name}")
    op.drop_index("ix_queue_counter_deltas_key", table_name="queue_counter_deltas")
    op.drop_table("queue_counter_deltas")
    op.drop_table("queue_counters")
