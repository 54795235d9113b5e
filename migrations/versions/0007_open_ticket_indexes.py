"""partial indexes over open tickets for the queue order and counts

Revision ID: 0007_open_ticket_indexes
Revises: 0003_sla_roster
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_open_ticket_indexes"
down_revision = "0003_sla_roster"
branch_labels = None
depends_on = None

OPEN_SQL = sa.text("status IN ('new', 'open', 'pending', 'on_hold')")
INDEXES = {
    "ix_tickets_open_due": ["next_due_at", "id"],
    "ix_tickets_open_id": ["id", "assignee_id", "tier"],
    "ix_tickets_open_counts": [
        "assignee_id",
        "tier",
        "first_response_at",
        "first_response_risk_at",
        "paused_since",
        "resolution_risk_at",
    ],
}


def upgrade():
    for name, columns in INDEXES.items():
        op.create_index(name, "tickets", columns, unique=False, sqlite_where=OPEN_SQL, postgresql_where=OPEN_SQL)


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="tickets")
