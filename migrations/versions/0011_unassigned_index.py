"""partial index for the unassigned queue in SLA order

Revision ID: 0011_unassigned_index
Revises: 0010_search_faq_clicks
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_unassigned_index"
down_revision = "0010_search_faq_clicks"
branch_labels = None
depends_on = None

WHERE = sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND assignee_id IS NULL")


def upgrade():
    op.create_index(
        "ix_tickets_unassigned_due",
        "tickets",
        ["next_due_at", "id"],
        unique=False,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade():
    op.drop_index("ix_tickets_unassigned_due", table_name="tickets")
