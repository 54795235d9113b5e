"""the sweep's next look at a ticket in a table of its own (sla_checks) instead of tickets.sla_check_at

The sweep moves it for thousands of tickets an hour, most often with nothing else of the ticket changing: a narrow
row with two indexes is rewritten then, not a ticket row with every index of tickets (on PostgreSQL an update of an
indexed column writes a new entry in each of them).

Revision ID: 0026_sla_checks
Revises: 0025_updated_order_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_sla_checks"
down_revision = "0025_updated_order_indexes"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "sla_checks",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("check_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_checks_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_sla_checks")),
    )
    op.execute(
        "INSERT INTO sla_checks (ticket_id, check_at) SELECT id, sla_check_at FROM tickets"
        " WHERE sla_check_at IS NOT NULL"
    )
    op.create_index("ix_sla_checks_check_at", "sla_checks", ["check_at", "ticket_id"])
    op.drop_index("ix_tickets_sla_check_at", table_name="tickets")
    # Not through a batch (a copy of the table on SQLite would lose its counter triggers): SQLite drops a column
    # that no index or trigger names in place since 3.35.
    op.execute("ALTER TABLE tickets DROP COLUMN sla_check_at")


def downgrade():
    op.add_column("tickets", sa.Column("sla_check_at", TS, nullable=True))
    op.execute(
        "UPDATE tickets SET sla_check_at = (SELECT check_at FROM sla_checks WHERE sla_checks.ticket_id = tickets.id)"
    )
    op.create_index("ix_tickets_sla_check_at", "tickets", ["sla_check_at"])
    op.drop_index("ix_sla_checks_check_at", table_name="sla_checks")
    op.drop_table("sla_checks")
