"""Helpers of the pipeline and corpus tests: raw messages built by hand (the shapes real mail clients send), the
corpus folder, and running the outbox rows a step emitted."""

from __future__ import annotations

import itertools
from email.utils import formatdate
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import InboundMessage, InboundSource, OutboxMessage
from portal.services.mail import pipeline

CORPUS = Path(__file__).resolve().parent / "corpus"
SUPPORT = "support@support.esg.test"  # the address in the test MAIL_FROM
_seq = itertools.count(1)


def new_id(domain: str = "client.test") -> str:
    return f"<m{next(_seq)}.{id(object())}@{domain}>"


def raw_mail(
    *,
    sender: str,
    subject: str = "Export stops at row 3",
    body: str = "Hello, the export stops at row 3.\n",
    to: str = SUPPORT,
    cc: str = "",
    name: str = "",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain text message, written out by hand (no library normalizing what we want to test)."""
    lines = [
        f"From: {name} <{sender}>" if name else f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Date: {formatdate()}",
        f"Message-ID: {message_id or new_id()}",
        *([f"In-Reply-To: {in_reply_to}"] if in_reply_to else []),
        *([f"References: {references}"] if references else []),
        *[f"{k}: {v}" for k, v in (headers or {}).items()],
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    return "\r\n".join(lines).encode("utf-8")


def ingest(raw: bytes) -> InboundMessage:
    return pipeline.ingest(raw, source=InboundSource.upload)


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def outbox_rows(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
