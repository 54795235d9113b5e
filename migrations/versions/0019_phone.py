"""phone calls logged by agents

Revision ID: 0019_phone
Revises: 0018_chat
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_phone"
down_revision = "0018_chat"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch.create_index("ix_users_phone", ["phone"])


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_phone")
        batch.drop_column("phone")
