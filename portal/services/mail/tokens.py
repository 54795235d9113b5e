"""Signed reply tokens: what ties a reply by email to its ticket and to the person it was sent to.

Every notification about a ticket carries the recipient's token twice: in its Message-ID
(``<r-<ticket>-<user>-<signature>.<unique>@<domain>>``; a reply names it in In-Reply-To / References) and as a hidden
marker in the body (``[ref:r-<ticket>-<user>-<signature>]``) for mail tools that drop those headers. The signature
is an HMAC under ``SECRET_KEY``: a stranger cannot forge the token of a ticket, and a mail claiming a staff address
becomes a staff reply only with that staff member's own token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import NamedTuple

from flask import current_app

# The line above which a reply's new text is kept (we put it at the top of every notification).
REPLY_MARKER = "##- Please type your reply above this line -##"

_TOKEN_RE = re.compile(r"\br-([0-9]{1,10})-([0-9]{1,10})-([a-z2-7]{20})\b")
_MARKER_RE = re.compile(r"\[ref:(r-[0-9]{1,10}-[0-9]{1,10}-[a-z2-7]{20})\]")


class ReplyToken(NamedTuple):
    ticket_id: int
    user_id: int


def _signature(ticket_id: int, user_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"mail-reply:{ticket_id}:{user_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:20]


def reply_token(ticket_id: int, user_id: int) -> str:
    """The token of ``user_id`` on ``ticket_id`` (the same every time: a later mail carries the same token)."""
    return f"r-{ticket_id}-{user_id}-{_signature(ticket_id, user_id)}"


def verify(token: str) -> ReplyToken | None:
    """The (ticket, user) a token names, or None when it is not one of ours or its signature is wrong."""
    match = _TOKEN_RE.fullmatch(token or "")
    if not match:
        return None
    ticket_id, user_id, signature = int(match.group(1)), int(match.group(2)), match.group(3)
    if not hmac.compare_digest(signature, _signature(ticket_id, user_id)):
        return None
    return ReplyToken(ticket_id, user_id)


def marker(token: str) -> str:
    """The hidden marker a notification's body carries (text part: a footer line; HTML part: a hidden span)."""
    return f"[ref:{token}]"


def message_id(token: str, unique: str, domain: str) -> str:
    """A Message-ID that carries ``token``; ``unique`` (e.g. the outbox row and recipient) keeps it unique and
    stable across retries of the same send."""
    safe = re.sub(r"[^A-Za-z0-9.\-]", "-", unique)
    return f"<{token}.{safe}@{domain}>"


def tokens_in_message_ids(values: list[str]) -> list[ReplyToken]:
    """Valid tokens found in Message-IDs (In-Reply-To, References), in the order given, without repeats."""
    found: list[ReplyToken] = []
    for value in values:
        for match in _TOKEN_RE.finditer(value or ""):
            verified = verify(match.group(0))
            if verified is not None and verified not in found:
                found.append(verified)
    return found


def token_in_body(text: str) -> ReplyToken | None:
    """The first valid hidden marker in a body (quoted history included), or None."""
    for match in _MARKER_RE.finditer(text or ""):
        verified = verify(match.group(1))
        if verified is not None:
            return verified
    return None
