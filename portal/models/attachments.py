"""Files attached to tickets, from the portal, the API and email.

The bytes live outside the static folder (``ATTACHMENT_DIR``) under a server-chosen random path; the name the
sender gave is kept only to display (escaped). The type is the one detected from the content, never the one the
sender claimed. Who may read a file is who may read the ticket event it belongs to (an internal note's files never
reach customers).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, utcnow


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)  # random, URL-safe: the public handle in links
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id", ondelete="CASCADE"))
    # a file of a mail not (yet) on a ticket: quarantined messages keep theirs until released or discarded
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))  # as given, cleaned to one line; for display only
    content_type: Mapped[str] = mapped_column(String(100))  # detected from the bytes
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(100))  # relative to ATTACHMENT_DIR, chosen by the server
    inline: Mapped[bool] = mapped_column(default=False)  # an inline image of an email (cid:)
    content_id: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploader: Mapped[User | None] = relationship(foreign_keys=[uploader_id])

    __table_args__ = (
        Index("ix_attachments_ticket_id_id", "ticket_id", "id"),
        Index("ix_attachments_event_id", "event_id"),
        Index("ix_attachments_inbound_id", "inbound_id"),
    )
