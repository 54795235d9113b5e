"""merge the operations, notifications, knowledge-base and index branches

Revision ID: 0008_merge
Revises: 0004_notifications, 0005_kb, 0006_query_indexes, 0007_open_ticket_indexes
"""

revision = "0008_merge"
down_revision = ("0004_notifications", "0005_kb", "0006_query_indexes", "0007_open_ticket_indexes")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
