"""delivery history: each send's attempt count, latest claim, idempotency key, and one row per attempt event

Revision ID: 0015_delivery_history
Revises: 0014_account_security
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_delivery_history"
down_revision = "0014_account_security"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=False, server_default=""))
    op.create_table(
        "notification_delivery_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_delivery_events_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery_events")),
    )
    with op.batch_alter_table("notification_delivery_events") as batch:
        batch.create_index(batch.f("ix_notification_delivery_events_delivery_id"), ["delivery_id"], unique=False)
        batch.create_index(batch.f("ix_notification_delivery_events_outbox_id"), ["outbox_id"], unique=False)


def downgrade():
    with op.batch_alter_table("notification_delivery_events") as batch:
        batch.drop_index(batch.f("ix_notification_delivery_events_outbox_id"))
        batch.drop_index(batch.f("ix_notification_delivery_events_delivery_id"))
    op.drop_table("notification_delivery_events")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_column("idempotency_key")
        batch.drop_column("claimed_at")
        batch.drop_column("attempts")
