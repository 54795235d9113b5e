"""at-risk count indexes replace the wide open-ticket counts index

Revision ID: 0009_at_risk_indexes
Revises: 0008_merge
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_at_risk_indexes"
down_revision = "0008_merge"
branch_labels = None
depends_on = None

OPEN = "status IN ('new', 'open', 'pending', 'on_hold')"


def upgrade():
    op.drop_index("ix_tickets_open_counts", table_name="tickets")
    op.create_index(
        "ix_tickets_open_fr_risk",
        "tickets",
        ["first_response_risk_at"],
        unique=False,
        sqlite_where=sa.text(OPEN + " AND first_response_at IS NULL"),
        postgresql_where=sa.text(OPEN + " AND first_response_at IS NULL"),
    )
    op.create_index(
        "ix_tickets_open_res_risk",
        "tickets",
        ["resolution_risk_at"],
        unique=False,
        sqlite_where=sa.text(OPEN + " AND paused_since IS NULL"),
        postgresql_where=sa.text(OPEN + " AND paused_since IS NULL"),
    )


def downgrade():
    op.drop_index("ix_tickets_open_res_risk", table_name="tickets")
    op.drop_index("ix_tickets_open_fr_risk", table_name="tickets")
    op.create_index(
        "ix_tickets_open_counts",
        "tickets",
        ["assignee_id", "tier", "first_response_at", "first_response_risk_at", "paused_since", "resolution_risk_at"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
