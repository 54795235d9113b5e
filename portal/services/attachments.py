"""Files attached to tickets: checking, storing, listing, reading rights and opening them.

Every upload point — the customer and agent forms, the API and the email pipeline — stores through here, so one
set of rules holds everywhere:

* the type is detected from the bytes (libmagic, through python-magic), never taken from the sender; only the
  types in ``ATTACHMENT_TYPES`` are kept, and HTML pages, SVG, scripts and executables are refused whatever their
  name (a name that would make a saved copy open as a page or a program is refused too);
* sizes are capped per file (``ATTACHMENT_MAX_BYTES``) and per submission (``ATTACHMENT_MAX_FILES``,
  ``ATTACHMENT_MAX_TOTAL_BYTES``); uploads are read in chunks and never beyond the cap plus one byte;
* the bytes go under a random, server-chosen path in ``ATTACHMENT_DIR`` (outside the static folder); the name the
  sender gave is cleaned to one short line and kept for display only — it never reaches the filesystem;
* a file is moved into place only after its row was flushed, and removed again when that transaction (or the
  savepoint it was written in) rolls back, so a refused or failed change leaves no file behind (session events
  below); ``sweep_orphans`` removes what a crashed process may have left;
* who may read a file is who may read the ticket event it belongs to (internal notes' files never reach
  customers; a quarantined mail's files only admins).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, BinaryIO

import magic
from flask import current_app, has_request_context, url_for
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.datastructures import FileStorage

from portal.extensions import db
from portal.models import Attachment, EventKind, InboundMessage, Ticket, TicketEvent, User, utcnow
from portal.services.access import CUSTOMER_VISIBLE_FIELDS, can_read_ticket
from portal.services.errors import NotFound, ValidationFailed

FIELD = "attachments"  # the form field and the key of the error messages
CHUNK = 64 * 1024
NAME_MAX = 150  # characters of the display name kept (the extension survives the cut)
# Shown in place (and as thumbnails): raster images a browser decodes without running anything.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Served as plain text whatever they are: a browser never interprets them.
TEXT_TYPES = frozenset({"text/plain", "text/csv", "application/json", "text/xml", "application/xml"})
# Never kept, even if an administrator lists them: they run in a browser or on the recipient's machine.
REFUSED_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "application/x-dosexec",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-msi",
        "application/x-msdownload",
        "application/java-archive",
        "application/x-java-applet",
        "application/vnd.android.package-archive",
    }
)
# Names that would open as a page or run as a program once saved, whatever the bytes are.
REFUSED_EXTENSIONS = frozenset(
    {
        "htm", "html", "xhtml", "shtml", "mht", "mhtml", "svg", "svgz", "js", "mjs", "cjs", "jse", "hta", "exe",
        "dll", "com", "scr", "pif", "cpl", "msi", "msp", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "wsf", "wsh",
        "jar", "apk", "app", "dmg", "lnk", "reg", "xll", "swf",
    }
)  # fmt: skip
# HTML-looking text is kept (as plain text) only under a plain-text name: a log that quotes a web page.
TEXT_EXTENSIONS = frozenset({"txt", "text", "log", "csv", "tsv", "md", "json", "xml", "out", "err", "trace"})
_OFFICE_ZIP = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PENDING = "attachment_files"  # session.info key: files written in this session's open transactions
_COMMITTING = "attachment_commit"  # set between a commit and the end of the transaction it committed


# --------------------------------------------------------------------------- settings


def storage_dir() -> Path:
    """``ATTACHMENT_DIR``, or ``<instance>/attachments`` when it is empty (tests)."""
    configured = current_app.config.get("ATTACHMENT_DIR") or ""
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def allowed_types() -> frozenset[str]:
    raw = current_app.config.get("ATTACHMENT_TYPES", "")
    return frozenset(t.strip().lower() for t in raw.split(",") if t.strip()) - REFUSED_TYPES


def limits() -> dict[str, int]:
    """The caps, for forms to show."""
    config = current_app.config
    return {
        "max_bytes": int(config["ATTACHMENT_MAX_BYTES"]),
        "max_files": int(config["ATTACHMENT_MAX_FILES"]),
        "max_total_bytes": int(config["ATTACHMENT_MAX_TOTAL_BYTES"]),
    }


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return "1 byte" if size == 1 else f"{size} bytes"
            return f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def limits_text() -> str:
    caps = limits()
    return (
        f"Up to {caps['max_files']} files, {human_size(caps['max_bytes'])} each, "
        f"{human_size(caps['max_total_bytes'])} in all: images, PDF, text, CSV, JSON, XML, Office documents, "
        "ZIP and email files."
    )


# --------------------------------------------------------------------------- names and types


def clean_filename(name: str | None) -> str:
    """The sender's name as one display line: the last path part, no control characters, at most ``NAME_MAX``
    characters (keeping the extension). For display only."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[\\/]", text)[-1]
    text = _CONTROL.sub("", re.sub(r"[\t\n\v\f\r\x85]", " ", text))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Zl", "Zp", "Cs", "Co"))
    text = " ".join(text.split()).strip(". ")
    if not text:
        return "attachment"
    if len(text) > NAME_MAX:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            text = stem[: NAME_MAX - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:NAME_MAX].rstrip()
    return text


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _refine_zip(path: Path) -> str:
    """libmagic names some Office files only "zip" (it looks at the first entry): look at the entry names."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for prefix, mime in _OFFICE_ZIP.items():
            if any(n.startswith(prefix) for n in names):
                return mime
    return "application/zip"


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml-stylesheet", b"<body"))


def detect_type(path: Path, filename: str) -> str:
    """The content type of the file at ``path`` as detected from its bytes, or raise ``ValidationFailed``."""
    detected = (magic.from_file(str(path), mime=True) or "application/octet-stream").lower()
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if detected == "application/x-empty" or not head:
        raise _refused(f"{filename} is empty.")
    if detected == "application/zip":
        detected = _refine_zip(path)
    if detected == "text/html" and _extension(filename) in TEXT_EXTENSIONS and not _looks_like_html(head):
        detected = "text/plain"  # markup quoted inside a log or a note: kept, and only ever served as plain text
    elif detected.startswith("text/") and detected not in REFUSED_TYPES and detected not in TEXT_TYPES:
        detected = "text/plain"  # source code, shell scripts, ...: harmless as plain text
    if detected in REFUSED_TYPES or (detected.startswith("text/") and _looks_like_html(head)):
        raise _refused(f"{filename} is not accepted: web pages, SVG images, scripts and programs cannot be attached.")
    if detected not in allowed_types():
        raise _refused(f"{filename} is not accepted: files of type {detected} cannot be attached.")
    return detected


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(message, {FIELD: message})


# --------------------------------------------------------------------------- storing


@dataclass
class _Spooled:
    """An upload copied into a temporary file inside the attachment directory, checked and typed."""

    temp: Path
    filename: str
    size: int
    sha256: str
    content_type: str


def _spool(stream: IO[bytes], filename: str, max_bytes: int) -> _Spooled:
    """Copy ``stream`` into a temporary file beside the final ones (so the move is a rename), reading at most
    ``max_bytes + 1`` bytes; check the name, the size and the type."""
    name = clean_filename(filename)
    if _extension(name) in REFUSED_EXTENSIONS:
        raise _refused(f"{name} is not accepted: web pages, SVG images, scripts and programs cannot be attached.")
    base = storage_dir()
    base.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, temp_name = tempfile.mkstemp(prefix=".upload-", dir=base)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while size <= max_bytes:
                chunk = stream.read(min(CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                digest.update(chunk)
                out.write(chunk)
        if size > max_bytes:
            raise _refused(f"{name} is larger than {human_size(max_bytes)}.")
        content_type = detect_type(temp, name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return _Spooled(temp, name, size, digest.hexdigest(), content_type)


def _new_storage_path(base: Path) -> str:
    while True:
        key = secrets.token_hex(16)
        relative = f"{key[:2]}/{key[2:4]}/{key}"
        if not (base / relative).exists():
            return relative


def _save(
    spooled: _Spooled,
    *,
    uploader: User | None,
    ticket: Ticket | None,
    event: TicketEvent | None,
    inbound: InboundMessage | None,
    inline: bool,
    content_id: str,
) -> Attachment:
    """Add the row, flush it, then move the file into place and remember it for removal on rollback."""
    base = storage_dir()
    relative = _new_storage_path(base)
    ticket_id = ticket.id if ticket is not None else (event.ticket_id if event is not None else None)
    row = Attachment(
        token=secrets.token_urlsafe(32),
        ticket_id=ticket_id,
        event_id=event.id if event is not None else None,
        inbound_id=inbound.id if inbound is not None else None,
        uploader_id=uploader.id if uploader is not None else None,
        filename=spooled.filename,
        content_type=spooled.content_type,
        size=spooled.size,
        sha256=spooled.sha256,
        storage_path=relative,
        inline=bool(inline),
        content_id=single_line(content_id)[:200],
        created_at=utcnow(),
    )
    try:
        db.session.add(row)
        db.session.flush()
        final = base / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.temp, final)
    except BaseException:
        spooled.temp.unlink(missing_ok=True)
        raise
    _remember(db.session(), final)
    return row


def single_line(text: str | None) -> str:
    return " ".join(_CONTROL.sub(" ", str(text or "")).split())


def store(
    data: bytes,
    filename: str,
    *,
    uploader: User | None,
    ticket: Ticket | None = None,
    event: TicketEvent | None = None,
    inbound: InboundMessage | None = None,
    inline: bool = False,
    content_id: str = "",
) -> Attachment:
    """Store one file (the email pipeline, scripts). Raises ``ValidationFailed`` when refused; the row is flushed,
    the caller commits (a rollback removes the file)."""
    spooled = _spool(io.BytesIO(data), filename, limits()["max_bytes"])
    return _save(
        spooled,
        uploader=uploader,
        ticket=ticket,
        event=event,
        inbound=inbound,
        inline=inline,
        content_id=content_id,
    )


def chosen(files: Iterable[FileStorage | None]) -> list[FileStorage]:
    """The files really chosen (a form sends one empty part when the input was left empty)."""
    return [f for f in files if f is not None and (f.filename or "") != ""]


def _rewind(file: FileStorage) -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        file.stream.seek(0)


def check_uploads(files: Iterable[FileStorage | None]) -> dict[str, str]:
    """Form errors for these uploads (empty when they may be stored), found before anything is written: the count,
    each file's size and type, the total. Reads at most the cap plus one byte of each and rewinds."""
    files = chosen(files)
    if not files:
        return {}
    caps = limits()
    if len(files) > caps["max_files"]:
        return {FIELD: f"Attach at most {caps['max_files']} files at a time."}
    total = 0
    for file in files:
        try:
            spooled = _spool(file.stream, file.filename or "", caps["max_bytes"])
        except ValidationFailed as exc:
            _rewind(file)
            return {FIELD: exc.message}
        spooled.temp.unlink(missing_ok=True)
        _rewind(file)
        total += spooled.size
        if total > caps["max_total_bytes"]:
            return {FIELD: f"The files come to more than {human_size(caps['max_total_bytes'])} in all."}
    return {}


def store_uploads(
    files: Iterable[FileStorage | None],
    *,
    uploader: User | None,
    ticket: Ticket | None,
    event: TicketEvent | None = None,
) -> list[Attachment]:
    """Store a form's or an API request's files on ``event`` (the ticket's creation event when None). Checks the
    count and total caps too; raises ``ValidationFailed`` (nothing of this call is kept then: the caller rolls
    back, which also removes what was written)."""
    files = chosen(files)
    if not files:
        return []
    caps = limits()
    if len(files) > caps["max_files"]:
        raise _refused(f"Attach at most {caps['max_files']} files at a time.")
    if event is None and ticket is not None:
        event = creation_event(ticket)
    spooled: list[_Spooled] = []
    try:
        total = 0
        for file in files:
            _rewind(file)
            item = _spool(file.stream, file.filename or "", caps["max_bytes"])
            spooled.append(item)
            total += item.size
            if total > caps["max_total_bytes"]:
                raise _refused(f"The files come to more than {human_size(caps['max_total_bytes'])} in all.")
    except BaseException:
        for item in spooled:
            item.temp.unlink(missing_ok=True)
        raise
    saved: list[Attachment] = []
    for index, item in enumerate(spooled):
        try:
            saved.append(
                _save(item, uploader=uploader, ticket=ticket, event=event, inbound=None, inline=False, content_id="")
            )
        except BaseException:
            for rest in spooled[index + 1 :]:
                rest.temp.unlink(missing_ok=True)
            raise
    return saved


def store_reply_uploads(
    files: Iterable[FileStorage | None], *, uploader: User, ticket: Ticket, result: TicketEvent | Ticket
) -> list[Attachment]:
    """Store a reply's files: on the reply's event (an internal note's files are the note's, so internal), or on
    the follow-up ticket's creation when the reply to a closed ticket opened one."""
    if isinstance(result, Ticket):
        return store_uploads(files, uploader=uploader, ticket=result, event=None)
    return store_uploads(files, uploader=uploader, ticket=ticket, event=result)


def creation_event(ticket: Ticket) -> TicketEvent | None:
    return db.session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.created)
        .order_by(TicketEvent.id)
        .limit(1)
    )


# --------------------------------------------------------------------------- files of rolled-back rows


def _remember(session: Session, path: Path) -> None:
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, path))


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _discard(session: Session, ended: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    kept = []
    for transaction, path in pending:
        if _within(transaction, ended):
            path.unlink(missing_ok=True)
        else:
            kept.append((transaction, path))
    session.info[_PENDING] = kept


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # fires for the outermost commit and for a savepoint's release alike: the transaction end that follows tells
    session.info[_COMMITTING] = True


@sa_event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTING, False)
    if committed and transaction.nested:
        return  # a released savepoint: its files now depend on the enclosing transaction
    if committed:
        session.info.pop(_PENDING, None)  # the outermost transaction committed: every file has its row
        return
    _discard(session, transaction)  # rolled back (or closed without a commit): the files lost their rows


def sweep_orphans(*, older_than: timedelta = timedelta(hours=1)) -> int:
    """Remove files no row points at (left by a process that died between writing and committing) and stale
    temporary files, older than ``older_than``. Returns how many were removed."""
    base = storage_dir()
    if not base.is_dir():
        return 0
    cutoff = (utcnow() - older_than).timestamp()
    known = set(db.session.scalars(select(Attachment.storage_path)))
    removed = 0
    for path in base.rglob("*"):
        if not path.is_file() or path.stat().st_mtime > cutoff:
            continue
        relative = path.relative_to(base).as_posix()
        if relative not in known:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# --------------------------------------------------------------------------- reading


def for_events(event_ids: Iterable[int]) -> dict[int, list[Attachment]]:
    """The files of these events, by event id, in upload order (one query)."""
    ids = sorted({int(i) for i in event_ids if i is not None})
    if not ids:
        return {}
    found: dict[int, list[Attachment]] = {}
    rows = db.session.scalars(select(Attachment).where(Attachment.event_id.in_(ids)).order_by(Attachment.id))
    for row in rows:
        found.setdefault(row.event_id, []).append(row)
    return found


def for_ticket_events(ticket_id: int) -> dict[int, list[Attachment]]:
    """The files of every event of one ticket, by event id (one query: a timeline page's batch)."""
    found: dict[int, list[Attachment]] = {}
    stmt = select(Attachment).where(Attachment.ticket_id == ticket_id, Attachment.event_id.is_not(None))
    for row in db.session.scalars(stmt.order_by(Attachment.id)):
        found.setdefault(row.event_id, []).append(row)
    return found


def visible_in_timeline(user: User, attachment: Attachment, event: TicketEvent) -> bool:
    """Whether ``user`` may see ``attachment`` listed under ``event`` (already known readable as a ticket)."""
    ticket = db.session.get(Ticket, event.ticket_id)
    return ticket is not None and can_read_ticket(user, ticket) and _event_visible(user, attachment, event, ticket)


def for_ticket(user: User, ticket: Ticket) -> list[Attachment]:
    """The files of ``ticket`` that ``user`` may read, in upload order."""
    if not can_read_ticket(user, ticket):
        return []
    rows = list(db.session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)))
    events = {e.id: e for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))}
    return [row for row in rows if _event_visible(user, row, events.get(row.event_id), ticket)]


def by_token(token: str) -> Attachment | None:
    if not token or len(token) > 43:
        return None
    return db.session.scalar(select(Attachment).where(Attachment.token == token))


def _event_visible(user: User, attachment: Attachment, event: TicketEvent | None, ticket: Ticket) -> bool:
    if user.is_staff:
        return True
    if event is None:
        return attachment.uploader_id == user.id  # not on an event: only the customer who uploaded it
    if event.ticket_id != ticket.id or event.kind is EventKind.internal_note:
        return False
    if event.kind is EventKind.field_change:
        return event.field in CUSTOMER_VISIBLE_FIELDS or event.author_id == user.id
    return True


def can_read(user: User | None, attachment: Attachment) -> bool:
    """Same rule as the event the file belongs to: the ticket must be readable, and customers only see files of
    events shown to them (never an internal note's). A file of a mail on no ticket (quarantine): admins only."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if attachment.ticket_id is None:
        return user.is_admin
    ticket = db.session.get(Ticket, attachment.ticket_id)
    if ticket is None or not can_read_ticket(user, ticket):
        return False
    event = db.session.get(TicketEvent, attachment.event_id) if attachment.event_id is not None else None
    return _event_visible(user, attachment, event, ticket)


def path_of(attachment: Attachment) -> Path:
    base = storage_dir().resolve()
    path = (base / attachment.storage_path).resolve()
    if base not in path.parents:  # the column is ours, but never follow a path out of the directory
        raise NotFound("No such file.")
    return path


def open_file(attachment: Attachment) -> BinaryIO:
    """The stored bytes, opened for reading; ``NotFound`` when the file is missing."""
    try:
        return open(path_of(attachment), "rb")
    except FileNotFoundError:
        raise NotFound("No such file.") from None


def is_inline(attachment: Attachment) -> bool:
    return attachment.content_type in INLINE_TYPES


def served_type(attachment: Attachment) -> str:
    """The Content-Type a download is served with: text of any kind as plain UTF-8 text."""
    if attachment.content_type in TEXT_TYPES or attachment.content_type.startswith("text/"):
        return "text/plain; charset=utf-8"
    return attachment.content_type


def url_name(attachment: Attachment) -> str:
    """The name in the link (cosmetic: the token alone finds the file)."""
    return attachment.filename.replace("/", "_").replace("\\", "_") or "attachment"


def download_url(attachment: Attachment, *, external: bool = False) -> str:
    """The download link; outside a request (workers, emails) an absolute one under ``PORTAL_URL``."""
    values = {"token": attachment.token, "name": url_name(attachment)}
    if has_request_context():
        return url_for("attachments.download", _external=external, **values)
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for("attachments.download", _external=True, **values)
