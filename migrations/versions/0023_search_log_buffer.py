"""search log rows carry the id their buffered entry was given when the search was answered (unique)

Revision ID: 0023_search_log_buffer
Revises: 0022_queue_counters
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_search_log_buffer"
down_revision = "0022_queue_counters"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kb_search_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uuid", sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_kb_search_logs_uuid"), ["uuid"])


def downgrade():
    with op.batch_alter_table("kb_search_logs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_kb_search_logs_uuid"), type_="unique")
        batch_op.drop_column("uuid")
