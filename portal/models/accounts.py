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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")

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
    shift_region: Mapped[ShiftRegion | None] = mapped_column(_enum(ShiftRegion, "shift_region"))
    specializations: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    is_approved: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    organization: Mapped[Organization | None] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive or unapproved users cannot keep a session
        return self.is_active_account and self.is_approved

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


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="token")
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_api_tokens_user_active", "user_id", "revoked_at"),)
