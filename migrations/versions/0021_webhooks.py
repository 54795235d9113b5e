"""outgoing webhooks: subscriptions, deliveries and their attempts

Revision ID: 0021_webhooks
Revises: 0020_paging
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0021_webhooks"
down_revision = "0020_paging"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
