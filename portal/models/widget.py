"""The embeddable support widget: the sites (ESG platform installations) that embed it, each with its signing
secrets (rotated and revoked by key id) and its exact allowed embedding origins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow


class WidgetSite(Base):
    """One place the widget is embedded. ``public_key`` is the ``data-key`` of the script tag (not a secret);
    ``origins`` are exact origins (scheme://host[:port]) allowed to frame the widget; ``verified_only`` refuses
    anyone the platform did not sign."""

    __tablename__ = "widget_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    verified_only: Mapped[bool] = mapped_column(default=True)
    # Identity the platform may send: "jwt" (HS256 with a key id), "hmac" (HMAC-SHA256 of the email) or "both".
    identity_mode: Mapped[str] = mapped_column(String(10), default="jwt")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    secrets: Mapped[list[WidgetSecret]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="WidgetSecret.id"
    )


class WidgetSecret(Base):
    """A signing secret of a site, named by ``kid``; several may be live during a rotation; a revoked one signs
    nothing any more."""

    __tablename__ = "widget_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("widget_sites.id", ondelete="CASCADE"))
    kid: Mapped[str] = mapped_column(String(40))
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    site: Mapped[WidgetSite] = relationship(back_populates="secrets")

    __table_args__ = (Index("uq_widget_secrets_site_id_kid", "site_id", "kid", unique=True),)
