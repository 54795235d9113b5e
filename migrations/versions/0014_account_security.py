"""account security: verified addresses, organization join approval, two-factor, sessions, scoped expiring API
tokens, single-use account links and the audit log

Revision ID: 0014_account_security
Revises: 0013_kb_contributions
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_account_security"
down_revision = "0013_kb_contributions"
branch_labels = None
depends_on = None


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("join_policy", sa.String(20), nullable=False, server_default="automatic"))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("requested_organization_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("is_org_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_users_requested_organization_id", "organizations", ["requested_organization_id"], ["id"]
        )
        batch.create_index("ix_users_requested_organization_id", ["requested_organization_id"])
    # Accounts that existed before sign-up proved addresses keep signing in.
    op.execute(sa.text("UPDATE users SET email_verified_at = created_at"))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(10), nullable=False, server_default="write"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "account_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("new_email", sa.String(254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_account_links_user_purpose", "account_links", ["user_id", "purpose", "used_at"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sid_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("two_factor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_user_sessions_user_active", "user_sessions", ["user_id", "revoked_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("actor_label", sa.String(254), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target_type", sa.String(40), nullable=True),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("target_label", sa.String(254), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("request_id", sa.String(40), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id"])
    # Audit rows are never changed, by the application or by hand: the database refuses an UPDATE.
    if _pg():
        op.execute(
            "CREATE FUNCTION audit_log_refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit rows cannot be changed'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_update()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed'); END"
        )


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update" + (" ON audit_log" if _pg() else ""))
    if _pg():
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_update()")
    op.drop_table("audit_log")
    op.drop_table("user_sessions")
    op.drop_table("recovery_codes")
    op.drop_table("account_links")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scope")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_requested_organization_id")
        batch.drop_constraint("fk_users_requested_organization_id", type_="foreignkey")
        for column in (
            "totp_last_step",
            "totp_enabled_at",
            "totp_secret",
            "password_changed_at",
            "is_org_admin",
            "requested_organization_id",
            "email_verified_at",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("join_policy")
