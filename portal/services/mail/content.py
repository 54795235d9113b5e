"""What a message says: its text (plain part preferred; HTML sanitized and turned into readable text), decoded
whatever the charset claims, the new text without the quoted history and signature, and its files (attachments
and inline images)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import nh3
from inscriptis import get_text

from portal.services.mail.tokens import REPLY_MARKER

_CALENDAR = ("text/calendar", "application/ics")


@dataclass
class FilePart:
    data: bytes
    filename: str
    content_type: str
    inline: bool
    content_id: str


# --------------------------------------------------------------------------- decoding


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode with the declared charset when it is known and fits; else utf-8, else cp1252 (never raises)."""
    charset = (charset or "").strip().strip('"').lower()
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = ""
    if charset:
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass  # a wrong label (8-bit text labelled us-ascii, ...): try the usual suspects
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", errors="replace")  # every byte means something (five are replaced)


def part_text(part) -> str:
    try:
        payload = part.get_payload(decode=True)  # undoes quoted-printable / base64
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode_bytes(payload, part.get_content_charset())


def _is_attachment(part) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    return bool(part.get_filename()) and part.get_content_maintype() != "text"


def _text_parts(message) -> tuple[list, list]:
    plain, html = [], []
    for part in message.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        if part.get_content_type() == "text/plain":
            plain.append(part)
        elif part.get_content_type() == "text/html":
            html.append(part)
    return plain, html


def sanitize_html(html: str) -> str:
    """No scripts, event handlers, forms or remote images (only cid: images survive, as alt text later)."""

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "img" and attr == "src" and not value.lower().startswith("cid:"):
            return None
        return value

    return nh3.clean(
        html,
        tags={
            "a",
            "b",
            "blockquote",
            "br",
            "div",
            "em",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
            "i",
            "img",
            "li",
            "ol",
            "p",
            "pre",
            "span",
            "strong",
            "table",
            "tbody",
            "td",
            "th",
            "thead",
            "tr",
            "u",
            "ul",
            "code",
        },  # fmt: skip
        attributes={"a": {"href"}, "img": {"src", "alt"}},
        url_schemes={"http", "https", "mailto", "cid"},
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel=None,
    )


def html_to_text(html: str) -> str:
    cleaned = sanitize_html(html)
    text = get_text(cleaned) if cleaned.strip() else ""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def body_text(message) -> tuple[str, bool]:
    """(the whole decoded text, whether it came from HTML). Several plain parts (a text with an attachment
    between) are joined."""
    plain, html = _text_parts(message)
    if plain:
        return "\n\n".join(part_text(p).strip() for p in plain if part_text(p).strip()).strip(), False
    if html:
        return "\n\n".join(html_to_text(part_text(p)) for p in html).strip(), True
    return "", False


def files(message) -> list[FilePart]:
    """Attachments and inline images (a part with a Content-ID that is not the text)."""
    out: list[FilePart] = []
    # a calendar invite often comes twice: as the text/calendar alternative and as an attached invite.ics
    attached_calendar = any(
        _is_attachment(p) and (p.get_content_type() in _CALENDAR or (p.get_filename() or "").lower().endswith(".ics"))
        for p in message.walk()
        if not p.is_multipart()
    )
    for part in message.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        content_id = (part.get("Content-ID") or "").strip().strip("<>")
        attachment = _is_attachment(part)
        inline_image = bool(content_id) and part.get_content_maintype() == "image"
        if not attachment and not inline_image and (ctype not in _CALENDAR or attached_calendar):
            continue
        if ctype.startswith("message/"):
            continue  # a forwarded message's text is shown; its raw stays in the original
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:
            data = b""
        name = part.get_filename() or ""
        if not name:
            extension = {"text/calendar": "ics", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}.get(
                ctype, "bin"
            )
            name = f"{'invite' if ctype == 'text/calendar' else 'file'}.{extension}"
        disposition = (part.get_content_disposition() or "").lower()
        out.append(FilePart(data, name, ctype, inline_image and disposition != "attachment", content_id[:200]))
    return out


# --------------------------------------------------------------------------- quoted history and signature

_WROTE_START = re.compile(r"^\s*(On\s|Am\s|Le\s|El\s|Op\s|Il\s|Den\s|W dniu\s)", re.IGNORECASE)
_WROTE_END = re.compile(r"(wrote|schrieb|a écrit|escribió|schreef|ha scritto|skrev|napisał)\s*:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}\s*$", re.I)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|Von|De)\s*:\*?\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|Gesendet|Envoyé|To|An|À|Subject|Betreff|Objet)\s*:", re.IGNORECASE)
_RULE = re.compile(r"^\s*_{10,}\s*$")


def _cut_index(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if REPLY_MARKER in line:
            # "On ... wrote:" right above our marker belongs to the quote too
            back = index
            while back > 0 and not lines[back - 1].strip():
                back -= 1
            if back > 0 and _WROTE_END.search(lines[back - 1]):
                back -= 1
                if back > 0 and _WROTE_START.match(lines[back - 1]) and not _WROTE_START.match(lines[back]):
                    back -= 1
            return back
        if stripped in ("--", "-- ") or line == "-- ":
            return index
        if _ORIGINAL.match(line):
            return index
        if _RULE.match(line) and index + 1 < len(lines) and _OUTLOOK_FROM.match(lines[index + 1]):
            return index
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[index + 1 : index + 4]):
            return index
        if _WROTE_START.match(line):
            joined = " ".join(part.strip() for part in lines[index : index + 3])
            for end in range(index, min(index + 3, len(lines))):
                if _WROTE_END.search(lines[end]):
                    return index
            if _WROTE_END.search(joined):
                return index
        if _WROTE_END.search(line) and index + 1 < len(lines) and lines[index + 1].lstrip().startswith(">"):
            return index
    return None


_FORWARD = re.compile(r"^\s*-{3,}\s*(Forwarded message|Begin forwarded message|Weitergeleitete Nachricht)", re.I)


def strip_quoted(text: str) -> str:
    """The new text of a reply: everything from our marker line down, "On … wrote:" and Outlook header blocks,
    a trailing ">"-quoted tail and a "-- " signature go. A forwarded message is what the sender wants us to read,
    so it is kept. If nothing would be left, the whole text is kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    forward = next((i for i, line in enumerate(lines) if _FORWARD.match(line)), None)
    head = lines if forward is None else lines[:forward]
    cut = _cut_index(head)
    if cut is not None:
        head = head[:cut]
    if forward is None:
        # a ">"-quoted tail (blank lines between quoted lines included)
        end = len(head)
        while end > 0 and (head[end - 1].lstrip().startswith(">") or not head[end - 1].strip()):
            end -= 1
        if any(line.lstrip().startswith(">") for line in head[end:]):
            head = head[:end]
        kept = "\n".join(head).strip()
    else:
        kept = ("\n".join(head).strip() + "\n\n" + "\n".join(lines[forward:]).strip()).strip()
    return kept or text.strip()
