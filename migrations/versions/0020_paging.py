"""on-call levels and overrides, hotline calls and the pages that escalate them

Revision ID: 0020_paging
Revises: 0019_phone
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0020_paging"
down_revision = "0019_phone"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
