"""SLA facts per target on tickets, external ids, the assignee id on assignee events, CSAT surveys, settings

Revision ID: 0012_sla_facts_csat_settings
Revises: 0011_unassigned_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_sla_facts_csat_settings"
down_revision = "0011_unassigned_index"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SURVEY_STATE = sa.Enum("open", "answered", "withdrawn", "expired", name="survey_state", native_enum=False, length=20)


def upgrade():
    with op.batch_alter_table("tickets") as batch:
        for target in ("first_response", "resolution"):
            batch.add_column(sa.Column(f"{target}_achieved_at", TS, nullable=True))
            batch.add_column(sa.Column(f"{target}_breached_at", TS, nullable=True))
            batch.add_column(sa.Column(f"{target}_breach_priority", sa.String(10), nullable=True))
            batch.add_column(sa.Column(f"{target}_decided_at", TS, nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(100), nullable=True))
        batch.create_unique_constraint("uq_tickets_external_id", ["external_id"])
        batch.create_index("ix_tickets_created_at", ["created_at"])
        batch.create_index("ix_tickets_fr_decided_at", ["first_response_decided_at"])
        batch.create_index("ix_tickets_res_decided_at", ["resolution_decided_at"])
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("new_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_events_new_user_id_users", "users", ["new_user_id"], ["id"])
        batch.create_index("ix_ticket_events_created_at", ["created_at"])
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("requester_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("state", SURVEY_STATE, nullable=False),
        sa.Column("offered_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("rated_at", TS, nullable=True),
        sa.Column("source", sa.String(10), nullable=True),
        sa.Column("followed_up_at", TS, nullable=True),
        sa.Column("followed_up_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_csat_surveys"),
        sa.UniqueConstraint("ticket_id", "cycle", name="uq_csat_surveys_ticket_cycle"),
    )
    op.create_index("ix_csat_surveys_rated_at", "csat_surveys", ["rated_at"])
    op.create_index("ix_csat_surveys_ticket_id", "csat_surveys", ["ticket_id"])
    op.create_index("ix_csat_surveys_state_expires_at", "csat_surveys", ["state", "expires_at"])
    op.create_table(
        "portal_settings",
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_portal_settings"),
    )


def downgrade():
    op.drop_table("portal_settings")
    op.drop_table("csat_surveys")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_index("ix_ticket_events_created_at")
        batch.drop_constraint("fk_ticket_events_new_user_id_users", type_="foreignkey")
        batch.drop_column("new_user_id")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_res_decided_at")
        batch.drop_index("ix_tickets_fr_decided_at")
        batch.drop_index("ix_tickets_created_at")
        batch.drop_constraint("uq_tickets_external_id", type_="unique")
        batch.drop_column("external_id")
        for target in ("resolution", "first_response"):
            for suffix in ("decided_at", "breach_priority", "breached_at", "achieved_at"):
                batch.drop_column(f"{target}_{suffix}")
