"""on-call levels and overrides, hotline calls and the pages that escalate them

Revision ID: 0020_paging
Revises: 0019_phone
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_paging"
down_revision = "0019_phone"
branch_labels = None
depends_on = None


def _level():
    return sa.Enum("primary", "secondary", name="on_call_level", native_enum=False, length=20)


def upgrade():
    with op.batch_alter_table("on_call") as batch:
        batch.add_column(sa.Column("level", _level(), server_default="primary", nullable=False))
    op.create_table(
        "on_call_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", _level(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_on_call_overrides_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_on_call_overrides_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_overrides")),
    )
    op.create_index("ix_on_call_overrides_ends_at_starts_at", "on_call_overrides", ["ends_at", "starts_at"])
    op.create_table(
        "hotline_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=False),
        sa.Column("caller_email", sa.String(length=254), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("taken_by_id", sa.Integer(), nullable=True),
        sa.Column("requester_detail", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_hotline_calls_ticket_id_tickets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_hotline_calls_requester_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"], ["users.id"], name=op.f("fk_hotline_calls_taken_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_hotline_calls_call_id")),
    )
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("open", "acknowledged", name="page_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_pages_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["hotline_calls.id"], name=op.f("fk_pages_call_id_hotline_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"], ["users.id"], name=op.f("fk_pages_acknowledged_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_pages_ticket_id")),
    )
    op.create_index("ix_pages_state_next_escalation_at", "pages", ["state", "next_escalation_at"])
    op.create_table(
        "page_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("paged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_page_attempts_page_id_pages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_page_attempts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_attempts")),
    )
    op.create_index(
        "uq_page_attempts_page_id_step_user_id", "page_attempts", ["page_id", "step", "user_id"], unique=True
    )


def downgrade():
    op.drop_index("uq_page_attempts_page_id_step_user_id", table_name="page_attempts")
    op.drop_table("page_attempts")
    op.drop_index("ix_pages_state_next_escalation_at", table_name="pages")
    op.drop_table("pages")
    op.drop_table("hotline_calls")
    op.drop_index("ix_on_call_overrides_ends_at_starts_at", table_name="on_call_overrides")
    op.drop_table("on_call_overrides")
    with op.batch_alter_table("on_call") as batch:
        batch.drop_column("level")
