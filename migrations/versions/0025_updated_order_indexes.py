"""indexes for lists ordered by last update: the organization's, the requester's and every ticket

Revision ID: 0025_updated_order_indexes
Revises: 0024_risk_and_customer_counters
"""

from alembic import op

revision = "0025_updated_order_indexes"
down_revision = "0024_risk_and_customer_counters"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_tickets_org_updated_id", ["organization_id", "updated_at", "id"]),
    ("ix_tickets_requester_updated_id", ["requester_id", "updated_at", "id"]),
    ("ix_tickets_updated_id", ["updated_at", "id"]),
)


def upgrade():
    for name, columns in INDEXES:
        op.create_index(name, "tickets", columns)


def downgrade():
    for name, _columns in INDEXES:
        op.drop_index(name, table_name="tickets")
