"""search logs record clicks on FAQs too

Revision ID: 0010_search_faq_clicks
Revises: 0009_at_risk_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_search_faq_clicks"
down_revision = "0009_at_risk_indexes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kb_search_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clicked_faq_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_kb_search_logs_clicked_faq_id_kb_faqs"),
            "kb_faqs",
            ["clicked_faq_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("kb_search_logs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_kb_search_logs_clicked_faq_id_kb_faqs"), type_="foreignkey")
        batch_op.drop_column("clicked_faq_id")
