"""live chat: agents' presence and seats, chat sessions and their messages

Revision ID: 0018_chat
Revises: 0017_widget
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0018_chat"
down_revision = "0017_widget"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
