"""indexes for the customer ticket list and staff lookups

Revision ID: 0006_query_indexes
Revises: 0002_outbox
"""

from alembic import op

revision = "0006_query_indexes"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_organization_id_id", ["organization_id", "id"], unique=False)
        batch_op.create_index("ix_tickets_requester_id_id", ["requester_id", "id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_role", ["role"], unique=False)


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_role")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_requester_id_id")
        batch_op.drop_index("ix_tickets_organization_id_id")
