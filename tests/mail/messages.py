"""Building realistic inbound mail for the tests and the benchmark: what a customer's mail client sends."""

from __future__ import annotations

import email
import email.policy
import itertools
import struct
import zlib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

_seq = itertools.count(1)


def png_bytes(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def build(
    *,
    sender: str,
    subject: str,
    body: str,
    to: str = "support@support.test",
    sender_name: str = "",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one message; ``attachments`` are (filename, mime type, content)."""
    msg = EmailMessage()
    msg["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(idstring=f"t{next(_seq)}", domain="customer.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, mime, content in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def reply_to(original: EmailMessage, *, sender: str, new_text: str, keep_headers: bool = True) -> bytes:
    """A customer's reply to ``original`` (a message we sent): the new text on top, the original quoted below
    (marker line included, as mail clients quote it), and In-Reply-To / References unless ``keep_headers`` is off."""
    original_body = original.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in (original_body.get_content() if original_body else "").splitlines())
    subject = original["Subject"] or ""
    if not subject.lower().startswith("re:"):
        subject = "Re: " + subject
    body = f"{new_text}\n\nOn {original['Date']}, {original['From']} wrote:\n{quoted}\n"
    message_id = str(original["Message-ID"])
    return build(
        sender=sender,
        subject=subject,
        body=body,
        to=str(original["From"]),
        in_reply_to=message_id if keep_headers else None,
        references=message_id if keep_headers else None,
    )


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)
