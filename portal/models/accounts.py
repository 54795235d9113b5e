"""Organizations (customer accounts), users with one role, and API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow


class Role(str, enum.Enum):
    customer = "customer"
    agent = "agent"
    senior_agent = "senior_agent"
    manager = "manager"
    admin = "admin"

    @property
    def label(self) -> str:
        return {
            "customer": "Customer",
            "agent": "Agent (L1)",
            "senior_agent": "Senior agent (L2)",
            "manager": "Manager",
            "admin": "Admin",
        }[self.value]


STAFF_ROLES = frozenset({Role.agent, Role.senior_agent, Role.manager, Role.admin})


class ShiftRegion(str, enum.Enum):
    emea = "EMEA"
    apac = "APAC"
    amer = "AMER"
    flexible = "flexible"


class JoinPolicy(str, enum.Enum):
    automatic = "automatic"
    approval = "approval"


def _enum(cls, name: str) -> Enum:
    """Enums stored by value as plain strings (portable, readable, no native PG enum to migrate)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Comma-separated lower-case email domains, e.g. "demo.test,demo-corp.test".
    email_domains: Mapped[str] = mapped_column(String(500), default="")
    region: Mapped[str | None] = mapped_column(String(20))
    plan: Mapped[str | None] = mapped_column(String(50))
    notes: Mapped[str] = mapped_column(Text, default="")
    # How a verified address at one of the domains joins: "automatic", or "approval" by an admin or an
    # organization admin (until then the account sees nothing of the organization).
    join_policy: Mapped[str] = mapped_column(String(20), default=JoinPolicy.automatic.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization", foreign_keys="User.organization_id")

    @property
    def domain_list(self) -> list[str]:
        return [d.strip() for d in self.email_domains.split(",") if d.strip()]


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.customer, index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A phone number in E.164 form (+441234567890), for looking a caller up; None when unknown.
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    shift_region: Mapped[ShiftRegion | None] = mapped_column(_enum(ShiftRegion, "shift_region"))
    specializations: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    is_approved: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Sign-up proves the address before the first sign-in; accounts made by staff, the seed or an import are
    # verified when made (or by following a password-reset link, which proves the address too).
    email_verified_at: Mapped[datetime | None]
    # Joining an organization that approves its members: the request waits here, organization_id stays empty.
    requested_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_org_admin: Mapped[bool] = mapped_column(default=False)  # a customer who approves their organization's joins
    password_changed_at: Mapped[datetime | None]
    # Two-factor authentication (TOTP): the secret (pending until enabled_at is set) and the last accepted time
    # step, so a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]

    organization: Mapped[Organization | None] = relationship(back_populates="users", foreign_keys=[organization_id])
    requested_organization: Mapped[Organization | None] = relationship(foreign_keys=[requested_organization_id])

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive or unapproved users cannot keep a session
        return self.is_active_account and self.is_approved

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role == Role.customer

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def tier(self) -> str | None:
        """The ticket tier this staff member works (None for customers and admins)."""
        return {Role.agent: "L1", Role.senior_agent: "L2", Role.manager: "manager"}.get(self.role)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class TokenScope(str, enum.Enum):
    read = "read"  # GET only
    write = "write"  # everything the user may do


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="token")
    scope: Mapped[str] = mapped_column(String(10), default=TokenScope.write.value)  # "read" or "write"
    expires_at: Mapped[datetime | None]
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_api_tokens_user_active", "user_id", "revoked_at"),)

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class LinkPurpose(str, enum.Enum):
    verify_email = "verify_email"
    reset_password = "reset_password"
    change_email = "change_email"


class AccountLink(Base):
    """A single-use, expiring link mailed to a user (verify an address, reset a password, confirm a new address).
    Only the SHA-256 digest of the random token in the link is stored."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[LinkPurpose] = mapped_column(_enum(LinkPurpose, "link_purpose"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(254))  # change_email: the address being confirmed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]  # also set when superseded by a newer link or a password change

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_account_links_user_purpose", "user_id", "purpose", "used_at"),)


class RecoveryCode(Base):
    """One of ten single-use two-factor recovery codes; only a hash is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class UserSession(Base):
    """A signed-in browser session. The cookie carries a random id (stored here as a digest); rotated at sign-in
    and privilege change, ended by sign-out, idle timeout, absolute lifetime or "sign out everywhere"."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sid_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    two_factor_at: Mapped[datetime | None]  # when this session passed the second factor
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_user_sessions_user_active", "user_id", "revoked_at"),)


class AuditEntry(Base):
    """One audited action: who did what to which target, before and after, when, from which address.
    Append-only: the ORM refuses to update or delete a row (see portal.services.audit)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_label: Mapped[str] = mapped_column(String(254), default="")  # the actor's email then (kept if deleted)
    action: Mapped[str] = mapped_column(String(60), index=True)  # e.g. "auth.login", "user.role"
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str | None] = mapped_column(String(254))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)
