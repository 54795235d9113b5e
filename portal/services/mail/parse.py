"""Reading an inbound message strictly: the header summary stored with every raw message, the full parse, the one
sender address (or why there is none we can trust), Message-ID normalization and the noise signals (auto-replies,
bulk mail, bounces, our own mail) that are decided before anything else."""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parseaddr

from email_validator import EmailNotValidError, validate_email
from flask import current_app


class ParseError(Exception):
    """The message cannot be read as RFC 5322 at all."""


@dataclass
class HeaderSummary:
    message_id: str = ""
    from_address: str = ""
    from_name: str = ""
    to_addresses: str = ""
    subject: str = ""


@dataclass
class Parsed:
    message: EmailMessage
    message_id: str  # as sent
    subject: str
    from_address: str = ""  # lower-cased, empty when the From could not be trusted
    from_name: str = ""
    from_problem: str = ""  # why the From is not usable (empty when it is)
    to: list[str] = field(default_factory=list)  # lower-cased addresses of To and Cc
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


_MSGID_RE = re.compile(r"<([^<>\s]+)>")


def normalize_message_id(value: str) -> str:
    """``<Local@Domain.Example>`` → ``Local@domain.example`` (the local part is case-sensitive, the domain not)."""
    value = (value or "").strip()
    match = _MSGID_RE.search(value)
    ident = match.group(1) if match else value.strip("<> \t\r\n")
    local, at, domain = ident.rpartition("@")
    return f"{local}@{domain.lower()}" if at else ident


def message_ids(value: str) -> list[str]:
    """Every ``<id>`` in an In-Reply-To / References value, normalized, in order, without repeats."""
    found: list[str] = []
    for match in _MSGID_RE.finditer(value or ""):
        ident = normalize_message_id(match.group(0))
        if ident and ident not in found:
            found.append(ident)
    return found


def dedupe_key(message_id: str) -> str | None:
    ident = normalize_message_id(message_id)
    return hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest() if ident else None


def _header_text(message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header too broken for the policy's parser
        return ""
    return re.sub(r"\s+", " ", str(value or "")).strip()


def split_headers(raw: bytes) -> bytes:
    """The header block of a raw message (everything up to the first empty line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(sep)
        if index != -1:
            return raw[: index + len(sep)]
    return raw


def summary(raw: bytes) -> HeaderSummary:
    """The headers shown in lists, read from the header block only (cheap even for a huge message); never raises."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(split_headers(raw))
    except Exception:
        return HeaderSummary()
    name, address = "", ""
    with contextlib.suppress(Exception):
        name, address = parseaddr(_header_text(headers, "From"))
    to: list[str] = []
    for header in ("To", "Cc"):
        with contextlib.suppress(Exception):
            to.extend(a for _n, a in getaddresses([_header_text(headers, header)]) if a)
    return HeaderSummary(
        message_id=_header_text(headers, "Message-ID")[:500],
        from_address=address.lower()[:320],
        from_name=name[:200],
        to_addresses=", ".join(to),
        subject=_header_text(headers, "Subject")[:500],
    )


def parse(raw: bytes) -> Parsed:
    """Parse the whole message. Raises ``ParseError`` when it is not a message at all; a From that cannot be trusted
    is reported in ``from_problem`` (the caller quarantines it after the noise checks)."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient: only truly unreadable input gets here
        raise ParseError(f"{exc.__class__.__name__}: {exc}") from exc
    if not raw.strip() or not message.keys():
        raise ParseError("The message has no headers.")
    parsed = Parsed(
        message=message,
        message_id=_header_text(message, "Message-ID")[:500],
        subject=_header_text(message, "Subject"),
        in_reply_to=message_ids(_header_text(message, "In-Reply-To")),
        references=message_ids(_header_text(message, "References")),
    )
    parsed.from_address, parsed.from_name, parsed.from_problem = strict_from(message)
    for header in ("To", "Cc"):
        for address in header_addresses(message, header):
            if address not in parsed.to:
                parsed.to.append(address)
    return parsed


def header_addresses(message, name: str) -> list[str]:
    out: list[str] = []
    try:
        values = message.get_all(name) or []
        for value in values:
            for addr in getattr(value, "addresses", ()):
                spec = (addr.addr_spec or "").strip().lower()
                if "@" in spec and spec not in out:
                    out.append(spec)
    except Exception:
        pass
    return out


def strict_from(message) -> tuple[str, str, str]:
    """(address, display name, problem). Exactly one From header with exactly one well-formed address and no
    parse defects; otherwise the problem says what is wrong."""
    try:
        values = message.get_all("From") or []
    except Exception as exc:
        return "", "", f"The From header cannot be read ({exc.__class__.__name__})."
    if not values:
        return "", "", "The message has no From header."
    if len(values) > 1:
        return "", "", "The message has more than one From header."
    header = values[0]
    if getattr(header, "defects", None):
        return "", "", f"The From header is malformed: {header.defects[0].__class__.__name__} in {str(header)!r}."
    addresses = getattr(header, "addresses", ())
    if len(addresses) != 1:
        return "", "", f"The From header names {len(addresses)} addresses: {str(header)[:200]!r}."
    addr = addresses[0]
    spec = (addr.addr_spec or "").strip()
    if not addr.username or not addr.domain or "@" not in spec:
        return "", "", f"The From address has no @domain: {str(header)[:200]!r}."
    try:
        normalized = validate_email(spec, check_deliverability=False, test_environment=True).normalized.lower()
    except EmailNotValidError as exc:
        return "", "", f"The From address {spec[:200]!r} is not valid: {exc}"
    return normalized, (addr.display_name or "").strip()[:200], ""


# --------------------------------------------------------------------------- noise


def own_addresses() -> set[str]:
    config = current_app.config
    out = {parseaddr(config.get("MAIL_FROM") or "")[1].lower()}
    if config.get("SUPPORT_ADDRESS"):
        out.add(parseaddr(config["SUPPORT_ADDRESS"])[1].lower())
    out.discard("")
    return out


_BULK_PRECEDENCE = {"bulk", "junk", "list"}
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def noise(message, from_address: str) -> tuple[str, str] | None:
    """(reason, detail) when the message is machine mail we must never answer nor let change a ticket."""
    content_type = message.get_content_type()
    local = from_address.rpartition("@")[0] if "@" in from_address else from_address
    if content_type == "multipart/report":
        kind = message.get_param("report-type") or "report"
        return "bounce", f"A delivery status report (multipart/report; report-type={kind})."
    if local.lower() in _DAEMONS:
        return "bounce", f"Sent by {from_address} (a mail system, not a person)."
    if from_address and from_address.lower() in own_addresses():
        return "own_address", f"Sent from our own address {from_address}: a loop."
    auto = _header_text(message, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_reply", f"Auto-Submitted: {auto}."
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        if message.get(name) is not None:
            return "auto_reply", f"{name}: {_header_text(message, name)}."
    precedence = _header_text(message, "Precedence").lower()
    if precedence in _BULK_PRECEDENCE:
        return "bulk", f"Precedence: {precedence}."
    if precedence == "auto_reply":
        return "auto_reply", "Precedence: auto_reply."
    for name in ("List-Id", "List-Unsubscribe"):
        if message.get(name) is not None:
            return "bulk", f"Mailing-list mail ({name}: {_header_text(message, name)[:150]})."
    return None


def bounced_message_ids(message) -> list[str]:
    """The Message-IDs a delivery report is about: from its returned headers, and its own threading headers."""
    found: list[str] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            try:
                if ctype == "message/rfc822":
                    inner = part.get_payload()[0] if part.is_multipart() else None
                    text = _header_text(inner, "Message-ID") if inner is not None else ""
                else:
                    payload = part.get_payload(decode=True) or b""
                    headers = BytesHeaderParser(policy=policy.default).parsebytes(payload)
                    text = _header_text(headers, "Message-ID")
            except Exception:
                text = ""
            found.extend(i for i in message_ids(text) if i not in found)
    for name in ("In-Reply-To", "References"):
        found.extend(i for i in message_ids(_header_text(message, name)) if i not in found)
    return found
