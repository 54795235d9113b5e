"""The mailbox poll: unseen mail in ``IMAP_FOLDER`` becomes inbound messages, each imported exactly once.

Order of work for one message, so that a crash anywhere loses nothing and duplicates nothing:

1. ``UID FETCH ... BODY.PEEK[]`` — reading never sets ``\\Seen`` (small messages come a few MB at a time, in one
   round trip);
2. ``pipeline.receive`` + COMMIT — the raw message is safe in ``inbound_messages`` under its IMAP key
   (folder, UIDVALIDITY, UID);
3. ``pipeline.process`` + COMMIT — the ticket change it causes;
4. ``UID STORE +FLAGS.SILENT (\\Seen)`` — only now is it read on the server (once per fetch group, for the messages
   whose outcome is committed).

A rerun after a crash finds the message still unseen: a row already under its IMAP key is processed (when it stayed
``received``) or just marked seen (when its outcome was committed); a new UIDVALIDITY re-lists old mail under new
keys, and the pipeline's Message-ID dedupe ignores what was already processed. A message larger than
``MAIL_MAX_MESSAGE_BYTES`` is fetched only up to ``MAIL_RAW_MAX`` bytes (``BODY.PEEK[]<0.n>``), so memory stays
bounded, and quarantined as ``oversize``. One bad message never stops the others; a connection failure ends the run
with an error in the result (the periodic job simply runs again at its next tick). A run that reached the mailbox
refreshes the ``mail_poll`` heartbeat, which the health checks read as mail ingestion's last success.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Heartbeat, utcnow
from portal.models.mail import InboundMessage, InboundSource, InboundState
from portal.services.mail import pipeline

log = logging.getLogger(__name__)

HEARTBEAT_NAME = "mail_poll"
TLS_MODES = ("ssl", "starttls", "none")

# Test hook: called with "fetched" (raw in memory, nothing committed), "received" (raw committed) and "processed"
# (outcome committed, not marked seen yet) for each message. The crash tests set it in a child process to kill
# that process at a chosen point; it is None otherwise.
test_hook: Callable[[str], None] | None = None

# Small messages are fetched together, up to this many bytes and messages per round trip.
FETCH_GROUP_BYTES = 4 * 1024 * 1024
FETCH_GROUP_MESSAGES = 50

_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID_RE = re.compile(rb"UID (\d+)")


@dataclass
class PollResult:
    fetched: int = 0  # messages read from the server this run
    processed: int = 0
    ignored: int = 0
    quarantined: int = 0
    already_done: int = 0  # imported by an earlier run (which stopped before marking it seen): only marked seen
    errors: list[str] = field(default_factory=list)  # per message (retried next run) or the connection's
    connected: bool = False  # the mailbox was reached and searched
    remaining: int = 0  # unseen messages left for the next run (stopped by a connection failure)

    @property
    def ok(self) -> bool:
        return self.connected and not self.errors

    def counts(self) -> dict:
        data = asdict(self)
        data["errors"] = len(self.errors)
        return data


class PollError(RuntimeError):
    """The mailbox could not be reached, logged into or read."""


def _hook(point: str) -> None:
    if test_hook is not None:
        test_hook(point)


def _quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _connect(config) -> imaplib.IMAP4:
    host, port, mode = config["IMAP_HOST"], int(config["IMAP_PORT"]), config["IMAP_TLS"]
    timeout = float(config.get("MAIL_TIMEOUT", 30))
    if mode not in TLS_MODES:
        raise PollError(f"IMAP_TLS must be one of {', '.join(TLS_MODES)}, not {mode!r}")
    if mode == "ssl":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
    else:
        conn = imaplib.IMAP4(host, port, timeout=timeout)
        if mode == "starttls":
            conn.starttls(ssl_context=ssl.create_default_context())
    try:
        conn.login(config["IMAP_USER"] or "", config["IMAP_PASSWORD"] or "")
    except imaplib.IMAP4.error as exc:
        _logout(conn)
        raise PollError(f"IMAP login as {config['IMAP_USER']!r} refused: {exc}") from exc
    return conn


def _logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


def _select(conn: imaplib.IMAP4, folder: str) -> int:
    """SELECT (read-write, so flags can be stored) and return the folder's UIDVALIDITY."""
    typ, data = conn.select(_quote(folder))
    if typ != "OK":
        raise PollError(f"cannot select IMAP folder {folder!r}: {data!r}")
    _typ, values = conn.response("UIDVALIDITY")
    if not values or values[0] is None:
        raise PollError(f"IMAP folder {folder!r} reports no UIDVALIDITY")
    return int(values[0])


def _unseen(conn: imaplib.IMAP4) -> list[int]:
    typ, data = conn.uid("SEARCH", "UNSEEN")
    if typ != "OK":
        raise PollError(f"IMAP search failed: {data!r}")
    return sorted(int(x) for x in b" ".join(d for d in data if d).split())


def _sizes(conn: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)")
    if typ != "OK":
        raise PollError(f"IMAP size fetch failed: {data!r}")
    sizes: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, size = _UID_RE.search(line), _SIZE_RE.search(line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _fetch(conn: imaplib.IMAP4, uid: int, limit: int | None = None) -> bytes | None:
    """The message's bytes (the first ``limit`` only, when given) without setting ``\\Seen``; None when it is gone
    (expunged meanwhile)."""
    part = "BODY.PEEK[]" if limit is None else f"BODY.PEEK[]<0.{limit}>"
    typ, data = conn.uid("FETCH", str(uid), f"({part})")
    if typ != "OK":
        raise PollError(f"IMAP fetch of UID {uid} failed: {data!r}")
    for item in data:
        if isinstance(item, tuple) and b"BODY[]" in item[0]:
            return item[1]
    return None


def _fetch_many(conn: imaplib.IMAP4, uids: list[int]) -> dict[int, bytes]:
    """Several whole messages in one round trip (``BODY.PEEK[]``: none is marked seen); the caller bounds their
    total size."""
    typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[])")
    if typ != "OK":
        raise PollError(f"IMAP fetch of {len(uids)} messages failed: {data!r}")
    found: dict[int, bytes] = {}
    for item in data:
        if isinstance(item, tuple) and b"BODY[]" in item[0]:
            uid = _UID_RE.search(item[0])
            if uid:
                found[int(uid.group(1))] = item[1]
    return found


def _mark_seen(conn: imaplib.IMAP4, uids: list[int]) -> None:
    if not uids:
        return
    typ, data = conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Seen)")
    if typ != "OK":
        raise PollError(f"IMAP store of \\Seen on {len(uids)} messages failed: {data!r}")
    uids.clear()


def _existing(folder: str, uidvalidity: int, uids: list[int]) -> dict[int, InboundMessage]:
    rows = db.session.scalars(
        select(InboundMessage).where(
            InboundMessage.imap_folder == folder,
            InboundMessage.imap_uidvalidity == uidvalidity,
            InboundMessage.imap_uid.in_(uids),
        )
    )
    return {row.imap_uid: row for row in rows}


def receive_oversize(raw_head: bytes, size: int, *, folder: str, uidvalidity: int, uid: int) -> InboundMessage:
    """Store the first bytes of a message too large to process, with the size the server reported: processing then
    quarantines it as ``oversize``, and an admin sees what it was (sender, subject) without the portal ever holding
    it whole."""
    inbound = pipeline.receive(
        raw_head, source=InboundSource.imap, imap_folder=folder, imap_uidvalidity=uidvalidity, imap_uid=uid
    )
    if inbound.state == InboundState.received:
        inbound.size = max(size, len(raw_head))
        inbound.raw_truncated = True
        db.session.flush()
    return inbound


def _quarantine_failure(inbound_id: int, exc: BaseException) -> None:
    """Processing raised although the pipeline catches a message's failures (a database error, a bug): park the
    stored message in quarantine as the pipeline would, so it is not retried on every tick, with the error for the
    admin (who can release or reprocess it)."""
    inbound = db.session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.state != InboundState.received:
        return
    inbound.attempts = (inbound.attempts or 0) + 1
    inbound.state = InboundState.quarantined
    inbound.reason = "error"
    inbound.detail = f"Processing failed: {type(exc).__name__}: {exc}"[:2000]
    inbound.processed_at = utcnow()
    db.session.commit()


def _count(result: PollResult, state: InboundState) -> None:
    if state == InboundState.processed:
        result.processed += 1
    elif state == InboundState.quarantined:
        result.quarantined += 1
    elif state in (InboundState.ignored, InboundState.discarded):
        result.ignored += 1


def _import_one(
    conn: imaplib.IMAP4,
    result: PollResult,
    key: tuple[str, int, int],
    size: int,
    existing: InboundMessage | None,
    raw: bytes | None,
) -> bool:
    """Store and process one message (``raw`` already fetched, or None to fetch it here); True when its outcome is
    committed and it may be marked seen."""
    config = current_app.config
    folder, uidvalidity, uid = key
    if existing is not None and existing.state != InboundState.received:
        # an earlier run committed its outcome and stopped before marking it seen
        result.already_done += 1
        return True
    if existing is not None:
        inbound = existing  # stored by an earlier run that stopped before processing it
    else:
        max_bytes, raw_max = config["MAIL_MAX_MESSAGE_BYTES"], config["MAIL_RAW_MAX"]
        oversize = size > max_bytes
        if raw is None:
            raw = _fetch(conn, uid, limit=min(raw_max, size) if oversize else None)
        if raw is None:
            return False  # expunged meanwhile
        result.fetched += 1
        _hook("fetched")
        if not oversize and len(raw) > max_bytes:  # the server's size was wrong: still never process it
            oversize, size, raw = True, len(raw), raw[:raw_max]
        if oversize:
            inbound = receive_oversize(raw, size, folder=folder, uidvalidity=uidvalidity, uid=uid)
        else:
            inbound = pipeline.receive(
                raw,
                source=InboundSource.imap,
                imap_folder=folder,
                imap_uidvalidity=uidvalidity,
                imap_uid=uid,
                looked_up=True,  # _existing() read the batch's stored rows a moment ago
            )
        del raw
        db.session.commit()  # the raw message is safe
        _hook("received")
    inbound_id = inbound.id
    state = inbound.state
    if state == InboundState.received:
        try:
            inbound = pipeline.process(inbound)
            state = inbound.state  # read before the commit expires it (no query to count it)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.exception("processing inbound message %s (IMAP UID %s) failed", inbound_id, uid)
            _quarantine_failure(inbound_id, exc)
            state = db.session.get(InboundMessage, inbound_id).state
    _hook("processed")
    _count(result, state)
    return True


def _fetch_groups(uids: list[int], sizes: dict[int, int], skip: set[int], max_bytes: int) -> list[list[int]]:
    """The batch's messages in fetch groups: small messages together (at most ``FETCH_GROUP_BYTES`` in memory at
    once, ``FETCH_GROUP_MESSAGES`` per round trip), each large or oversize one alone, in UID order."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        alone = uid in skip or size > FETCH_GROUP_BYTES or size > max_bytes or uid not in sizes
        if current and (alone or total + size > FETCH_GROUP_BYTES or len(current) >= FETCH_GROUP_MESSAGES):
            groups.append(current)
            current, total = [], 0
        if alone:
            groups.append([uid])
        else:
            current.append(uid)
            total += size
    if current:
        groups.append(current)
    return groups


def _import_batch(conn: imaplib.IMAP4, result: PollResult, folder: str, uidvalidity: int, chunk: list[int]) -> None:
    config = current_app.config
    sizes = _sizes(conn, chunk)
    existing = _existing(folder, uidvalidity, chunk)
    db.session.rollback()  # end the read transaction before the slow part
    seen: list[int] = []
    for group in _fetch_groups(chunk, sizes, set(existing), config["MAIL_MAX_MESSAGE_BYTES"]):
        raws = _fetch_many(conn, group) if len(group) > 1 else {}
        for uid in group:
            try:
                row = existing.get(uid)
                if _import_one(conn, result, (folder, uidvalidity, uid), sizes.get(uid, 0), row, raws.pop(uid, None)):
                    seen.append(uid)
            except (OSError, imaplib.IMAP4.abort):
                raise
            except Exception as exc:
                db.session.rollback()
                log.exception("IMAP UID %s in %s could not be imported; it is retried next run", uid, folder)
                result.errors.append(f"UID {uid}: {type(exc).__name__}: {exc}")
        db.session.rollback()  # no transaction stays open while we talk to the server
        _mark_seen(conn, seen)  # only messages whose outcome is committed


def _heartbeat(result: PollResult) -> None:
    """Refresh the ``mail_poll`` heartbeat (created at the first success; a poller racing us to create it wins and
    we update its row)."""
    for _attempt in range(2):
        row = db.session.scalar(select(Heartbeat).where(Heartbeat.name == HEARTBEAT_NAME))
        now = utcnow()
        if row is None:
            row = Heartbeat(name=HEARTBEAT_NAME, kind="mail_poll", started_at=now)
            db.session.add(row)
        row.last_seen = now
        row.detail = json.dumps(result.counts(), sort_keys=True)
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()


def poll_once(progress: Callable[[PollResult, int], None] | None = None) -> PollResult:
    """Import the unseen messages of the configured mailbox (all of them, ``IMAP_BATCH`` per size lookup). Does
    nothing when ``IMAP_HOST`` is unset. Never raises for a bad message or a connection failure: see the result.
    ``progress(result, unseen_total)`` is called after each batch (long imports print it)."""
    config = current_app.config
    result = PollResult()
    if not config.get("IMAP_HOST"):
        return result
    folder = config["IMAP_FOLDER"]
    batch = max(1, int(config["IMAP_BATCH"]))
    try:
        conn = _connect(config)
    except (OSError, imaplib.IMAP4.error, PollError) as exc:
        message = f"IMAP connection to {config['IMAP_HOST']}:{config['IMAP_PORT']} failed: {exc}"
        log.error("%s (the poll runs again at its next tick)", message)
        result.errors.append(message)
        return result
    completed = False
    try:
        uidvalidity = _select(conn, folder)
        uids = _unseen(conn)
        result.connected = True
        for start in range(0, len(uids), batch):
            try:
                _import_batch(conn, result, folder, uidvalidity, uids[start : start + batch])
            except (OSError, imaplib.IMAP4.abort) as exc:
                result.remaining = len(uids) - start
                raise PollError(f"connection lost: {exc}") from exc
            if progress is not None:
                progress(result, len(uids))
        completed = True
    except (OSError, imaplib.IMAP4.error, PollError) as exc:
        db.session.rollback()
        message = f"IMAP poll of {folder!r} on {config['IMAP_HOST']} failed: {exc}"
        log.error("%s (the poll runs again at its next tick)", message)
        result.errors.append(message)
    finally:
        _logout(conn)
    if completed:  # the mailbox was read to the end (single bad messages do not make the poll fail)
        _heartbeat(result)
    log.info("mail poll: %s", result.counts())
    return result
