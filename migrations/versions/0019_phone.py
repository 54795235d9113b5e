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
    op.create_table(
        "phone_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.Integer(), nullable=True),
        sa.Column(
            "direction",
            sa.Enum("inbound", "outbound", name="call_direction", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "answered",
                "voicemail",
                "no_answer",
                "busy",
                "callback_requested",
                "wrong_number",
                "dropped",
                name="call_outcome",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("customer_answered", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_ticket", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_phone_calls_agent_id_users")),
        sa.ForeignKeyConstraint(["caller_id"], ["users.id"], name=op.f("fk_phone_calls_caller_id_users")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ticket_events.id"], name=op.f("fk_phone_calls_event_id_ticket_events"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_phone_calls_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_calls")),
    )
    op.create_index("ix_phone_calls_agent_id", "phone_calls", ["agent_id"])
    op.create_index("ix_phone_calls_caller_id", "phone_calls", ["caller_id"])
    op.create_index("ix_phone_calls_outcome", "phone_calls", ["outcome"])
    op.create_index("ix_phone_calls_ticket_id_id", "phone_calls", ["ticket_id", "id"])
    op.create_index("ix_phone_calls_created_at", "phone_calls", ["created_at"])


def downgrade():
    op.drop_index("ix_phone_calls_created_at", table_name="phone_calls")
    op.drop_index("ix_phone_calls_ticket_id_id", table_name="phone_calls")
    op.drop_index("ix_phone_calls_outcome", table_name="phone_calls")
    op.drop_index("ix_phone_calls_caller_id", table_name="phone_calls")
    op.drop_index("ix_phone_calls_agent_id", table_name="phone_calls")
    op.drop_table("phone_calls")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_phone")
        batch.drop_column("phone")
