"""The email channel: every inbound message kept raw with its outcome, the Message-IDs that thread mail to tickets,
and the people copied on a ticket's conversation.

``InboundMessage`` is written and committed *before* a message is processed (the IMAP poll marks it seen only after
the ticket change it caused is committed), so a crash between fetch and commit loses nothing; ``dedupe_key`` (the
digest of the Message-ID, set on the row that was processed) and the IMAP key (folder, UIDVALIDITY, UID) make a rerun
duplicate nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow


class InboundState(str, enum.Enum):
    received = "received"  # stored raw, not processed yet (or a crash came between): processing picks it up
    processed = "processed"  # became a ticket, a reply or a follow-up
    ignored = "ignored"  # recorded but changed nothing: a duplicate, an auto-reply or bulk mail, a bounce
    quarantined = "quarantined"  # could not be processed; waits on /admin/mail with its reason
    discarded = "discarded"  # an admin discarded a quarantined message (kept, never processed)

    @property
    def label(self) -> str:
        return self.value.capitalize()


class InboundSource(str, enum.Enum):
    pipe = "pipe"  # `flask mail ingest` on stdin (an MTA pipe)
    imap = "imap"  # the periodic mailbox poll
    upload = "upload"  # an admin or a test handed it in


class InboundMessage(Base):
    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[InboundSource] = mapped_column(_enum(InboundSource, "inbound_source"))
    state: Mapped[InboundState] = mapped_column(_enum(InboundState, "inbound_state"), default=InboundState.received)
    # why it was quarantined or ignored, as a short machine-readable code (see portal.services.mail), and the words
    reason: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # what processing did: new_ticket, reply, follow_up, note (staff with a signed token), released, ...
    outcome: Mapped[str] = mapped_column(String(40), default="")
    # how it was (or was not) threaded: token, references, subject, none; and the words shown on the ticket
    thread_method: Mapped[str] = mapped_column(String(20), default="")
    thread_detail: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(500), default="")  # the header as sent (may be empty)
    # sha256 of the normalized Message-ID on the row that was processed: a second copy is ignored as a duplicate
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(default=0)  # bytes received
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # the message as received, up to MAIL_RAW_MAX
    raw_truncated: Mapped[bool] = mapped_column(default=False)
    # the IMAP message it came from: a rerun of the poll finds it here and never imports it twice
    imap_folder: Mapped[str | None] = mapped_column(String(200))
    imap_uidvalidity: Mapped[int | None]
    imap_uid: Mapped[int | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id", ondelete="SET NULL"))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # headers stripped, one recent open ticket of the sender on the same subject: offered to the agent for merging
    suggested_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # reprocess etc.

    sender: Mapped[User | None] = relationship(foreign_keys=[sender_id])

    __table_args__ = (
        UniqueConstraint("imap_folder", "imap_uidvalidity", "imap_uid", name="uq_inbound_messages_imap"),
        Index("ix_inbound_messages_state_id", "state", "id"),
        Index("ix_inbound_messages_ticket_id", "ticket_id"),
        Index("ix_inbound_messages_event_id", "event_id"),
        Index("ix_inbound_messages_message_id", "message_id"),
        Index("ix_inbound_messages_from_received", "from_address", "received_at"),
    )


class MailDirection(str, enum.Enum):
    inbound = "in"
    outbound = "out"


class TicketMailId(Base):
    """A Message-ID known to belong to a ticket: every mail we send about it and every mail we threaded to it.
    In-Reply-To / References of a reply are looked up here."""

    __tablename__ = "ticket_mail_ids"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(500), unique=True)  # normalized: without <>, lower-cased domain
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # the recipient/author
    direction: Mapped[MailDirection] = mapped_column(_enum(MailDirection, "mail_direction"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketParticipant(Base):
    """Someone copied on a ticket's conversation (CC of the mail that filed it, or added by an agent). A reply from
    a participant threads to the ticket and they receive its public replies."""

    __tablename__ = "ticket_participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20), default="email")  # email (a CC), agent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    __table_args__ = (UniqueConstraint("ticket_id", "email", name="uq_ticket_participants_ticket_email"),)


class AutoReplyLog(Base):
    """Each automatic reply sent to an address (acknowledgements of mailed-in tickets): the per-sender cap counts
    these, a backstop against loops with auto-responders that ignore the headers."""

    __tablename__ = "auto_reply_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_auto_reply_log_address_sent_at", "address", "sent_at"),)
