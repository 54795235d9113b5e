"""what each knowledge-base revision contributed to the published articles (published, updated)

Revision ID: 0013_kb_contributions
Revises: 0012_sla_facts_csat_settings
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_kb_contributions"
down_revision = "0012_sla_facts_csat_settings"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kb_article_revisions") as batch:
        batch.add_column(sa.Column("contribution", sa.String(12), nullable=True))
    op.create_index(
        "ix_kb_article_revisions_contribution_created_at", "kb_article_revisions", ["contribution", "created_at"]
    )
    # Earlier history did not say; the best reading of it: revisions saved after an article's first publication
    # updated it (publications themselves wrote no revision before).
    op.execute(
        sa.text(
            "UPDATE kb_article_revisions SET contribution = 'updated' WHERE EXISTS (SELECT 1 FROM kb_articles a "
            "WHERE a.id = kb_article_revisions.article_id AND a.published_at IS NOT NULL "
            "AND kb_article_revisions.created_at > a.published_at)"
        )
    )


def downgrade():
    op.drop_index("ix_kb_article_revisions_contribution_created_at", table_name="kb_article_revisions")
    with op.batch_alter_table("kb_article_revisions") as batch:
        batch.drop_column("contribution")
