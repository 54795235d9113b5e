"""the support widget: sites that embed it, their signing secrets and allowed origins

Revision ID: 0017_widget
Revises: 0016_channels_incidents
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_widget"
down_revision = "0016_channels_incidents"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "widget_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("verified_only", sa.Boolean(), nullable=False),
        sa.Column("identity_mode", sa.String(length=10), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_sites")),
        sa.UniqueConstraint("public_key", name=op.f("uq_widget_sites_public_key")),
    )
    op.create_table(
        "widget_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["widget_sites.id"], name=op.f("fk_widget_secrets_site_id_widget_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_secrets")),
    )
    op.create_index("uq_widget_secrets_site_id_kid", "widget_secrets", ["site_id", "kid"], unique=True)


def downgrade():
    op.drop_index("uq_widget_secrets_site_id_kid", table_name="widget_secrets")
    op.drop_table("widget_secrets")
    op.drop_table("widget_sites")
