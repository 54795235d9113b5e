"""live chat: agents' presence and seats, chat sessions and their messages

Revision ID: 0018_chat
Revises: 0017_widget
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_chat"
down_revision = "0017_widget"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "chat_agents",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("online", "away", name="chat_presence_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_agents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_chat_agents")),
    )
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("waiting", "active", "ended", name="chat_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=20), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visitor_typing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_typing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_chats_agent_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["widget_sites.id"], name=op.f("fk_chats_site_id_widget_sites"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_chats_ticket_id_tickets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["users.id"], name=op.f("fk_chats_visitor_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
    )
    op.create_index("ix_chats_status_created_at", "chats", ["status", "created_at"], unique=False)
    op.create_index("ix_chats_visitor_id_status", "chats", ["visitor_id", "status"], unique=False)
    op.create_index("ix_chats_agent_id_status", "chats", ["agent_id", "status"], unique=False)
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_chat_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_chat_messages_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    op.create_index("ix_chat_messages_chat_id_id", "chat_messages", ["chat_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_chat_messages_chat_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_chats_agent_id_status", table_name="chats")
    op.drop_index("ix_chats_visitor_id_status", table_name="chats")
    op.drop_index("ix_chats_status_created_at", table_name="chats")
    op.drop_table("chats")
    op.drop_table("chat_agents")
