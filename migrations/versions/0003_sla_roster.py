"""SLA policies, calendars, SLA events, tier spans; roster (shifts, staff status, time off, on-call); ticket clock

Revision ID: 0003_sla_roster
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_sla_roster"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
REGION = sa.Enum("EMEA", "APAC", "AMER", "flexible", name="shift_region", native_enum=False, length=20)
TIER = sa.Enum("L1", "L2", "manager", "engineering", name="tier", native_enum=False, length=20)


def upgrade():
    op.create_table(
        "business_calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("always_open", sa.Boolean(), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
        sa.UniqueConstraint("name", name=op.f("uq_business_calendars_name")),
    )
    op.create_table(
        "business_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendars.id"],
            name=op.f("fk_business_holidays_calendar_id_business_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_holidays")),
        sa.UniqueConstraint("calendar_id", "day", name="uq_business_holidays_calendar_day"),
    )
    minutes = []
    for priority, (fr, res) in {
        "critical": (15, 240),
        "high": (60, 480),
        "medium": (240, 1440),
        "low": (1440, 4320),
    }.items():
        minutes += [
            sa.Column(f"{priority}_first_response", sa.Integer(), nullable=False, server_default=str(fr)),
            sa.Column(f"{priority}_resolution", sa.Integer(), nullable=False, server_default=str(res)),
        ]
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("at_risk_percent", sa.Integer(), nullable=False),
        sa.Column("pause_statuses", sa.JSON(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        *minutes,
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["business_calendars.id"], name=op.f("fk_sla_policies_calendar_id_business_calendars")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sla_policies_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_sla_policies_organization_id")),
    )
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "target",
            sa.Enum("first_response", "resolution", name="sla_target", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum("at_risk", "breached", "met", name="sla_event_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_events_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
        sa.UniqueConstraint("ticket_id", "target", "kind", name="uq_sla_events_ticket_target_kind"),
    )
    op.create_index("ix_sla_events_kind_at", "sla_events", ["kind", "at"], unique=False)
    op.create_table(
        "tier_spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("tier", TIER, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_tier_spans_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_spans")),
    )
    op.create_index("ix_tier_spans_ticket_id_id", "tier_spans", ["ticket_id", "id"], unique=False)
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", REGION, nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("region", name=op.f("uq_shifts_region")),
    )
    op.create_table(
        "staff_status",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_away", sa.Boolean(), nullable=False),
        sa.Column("away_since", TS, nullable=True),
        sa.Column("last_assigned_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_staff_status_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_status")),
    )
    op.create_table(
        "time_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_time_off_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_off")),
    )
    op.create_index("ix_time_off_user_id_ends_at", "time_off", ["user_id", "ends_at"], unique=False)
    op.create_table(
        "on_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_on_call_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call")),
    )
    op.create_index("ix_on_call_ends_at_starts_at", "on_call", ["ends_at", "starts_at"], unique=False)

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for name in ("first_response_due", "first_response_risk_at", "resolution_due", "resolution_risk_at"):
            batch_op.add_column(sa.Column(name, TS, nullable=True))
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0"))
        for name in ("paused_since", "next_due_at", "sla_check_at", "routing_flagged_at"):
            batch_op.add_column(sa.Column(name, TS, nullable=True))
        batch_op.create_index("ix_tickets_status_next_due_at", ["status", "next_due_at"], unique=False)
        batch_op.create_index("ix_tickets_sla_check_at", ["sla_check_at"], unique=False)
        batch_op.create_index("ix_tickets_routing_flagged_at", ["routing_flagged_at"], unique=False)


def downgrade():
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_routing_flagged_at")
        batch_op.drop_index("ix_tickets_sla_check_at")
        batch_op.drop_index("ix_tickets_status_next_due_at")
        for name in (
            "routing_flagged_at",
            "sla_check_at",
            "next_due_at",
            "paused_since",
            "paused_seconds",
            "resolution_risk_at",
            "resolution_due",
            "first_response_risk_at",
            "first_response_due",
        ):
            batch_op.drop_column(name)
    op.drop_index("ix_on_call_ends_at_starts_at", table_name="on_call")
    op.drop_table("on_call")
    op.drop_index("ix_time_off_user_id_ends_at", table_name="time_off")
    op.drop_table("time_off")
    op.drop_table("staff_status")
    op.drop_table("shifts")
    op.drop_index("ix_tier_spans_ticket_id_id", table_name="tier_spans")
    op.drop_table("tier_spans")
    op.drop_index("ix_sla_events_kind_at", table_name="sla_events")
    op.drop_table("sla_events")
    op.drop_table("sla_policies")
    op.drop_table("business_holidays")
    op.drop_table("business_calendars")
