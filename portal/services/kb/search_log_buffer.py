"""The search log buffer: KB searches, suggestion look-ups and the results people followed are noted outside the
database while the request is answered, and a job moves them into ``kb_search_logs`` in batches. A read request
never waits on a database write (on SQLite, the one write lock).

An entry is one JSON object (one line):

- a search: ``{"t": "search", "id": <uuid made at request time>, "at": <ISO instant>, "q", "nq", "src", "n",
  "user"}`` — the page's result links carry the uuid, so a click can name its search before it is in the database;
- a click: ``{"t": "click", "search": <uuid>, "article" | "faq": <id>, "at": ...}`` (``"search_id": <row id>``
  for links made before the buffer).

Where entries wait (``SEARCH_LOG_BUFFER``): ``redis``, a Redis list (every process and machine shares it);
``spool``, one append-only JSON-lines file per process under ``<instance>/search_log/spool/`` (``O_APPEND``, a
shared ``flock`` per write); ``auto`` (the default) is Redis when ``REDIS_URL`` is set, else the spool; a Redis that
does not answer sends entries to the spool for a while (the drain reads both). ``database`` writes at once (the
behaviour before the buffer).

``drain`` is idempotent and loses nothing when it stops half-way: it first *claims* what is waiting (a spool file
is renamed into ``claimed/`` under an exclusive ``flock``, so no writer appends to it afterwards; the Redis list is
renamed to a claimed key listed in a set), then inserts the searches (the uuid is unique: ``ON CONFLICT DO
NOTHING``), then attributes the clicks (first click counts, a conditional UPDATE), and only after that commit removes
the claimed files and keys. A claimed source that survived a crash is simply drained again. A click whose search is
not in the database yet goes back to the buffer (its search is still on its way) and is given up after
``ORPHAN_CLICK_AGE``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import User, utcnow
from portal.models.kb import Article, Faq, SearchLog, SearchSource

BATCH_SIZE = 500  # entries per transaction while draining
ORPHAN_CLICK_AGE = timedelta(hours=24)  # a click whose search never arrived is given up after this
REDIS_PENDING = "portal:kb-search-log:pending"
REDIS_CLAIMS = "portal:kb-search-log:claims"  # the claimed lists not yet drained
REDIS_PAUSE_SECONDS = 30.0  # after Redis failed to answer, the spool takes the entries this long
_SESSION_KEY = "search_log_drained"  # sources drained in an uncommitted transaction (``drain(commit=False)``)
_TABLE = SearchLog.__table__


@dataclass
class DrainStats:
    searches: int = 0  # search rows added
    clicks: int = 0  # clicks attributed to their search
    deferred: int = 0  # clicks whose search is not in the database yet: back in the buffer for a later drain
    dropped: int = 0  # clicks given up (their search never arrived, or the result was deleted)
    unreadable: int = 0  # lines that were not an entry (a process killed half-way through a write)


def mode() -> str:
    configured = (current_app.config.get("SEARCH_LOG_BUFFER") or "auto").strip().lower()
    if configured == "auto":
        return "redis" if current_app.config.get("REDIS_URL") else "spool"
    if configured not in ("redis", "spool", "database"):
        raise ValueError(f"SEARCH_LOG_BUFFER={configured!r}: use auto, redis, spool or database")
    return configured


def new_id() -> str:
    return str(uuid.uuid4())


# -- noting entries (request time) ----------------------------------------------------------------------------------


def record(entry: dict) -> None:
    """Note ``entry`` (a search or a click): in the buffer, or at once with ``SEARCH_LOG_BUFFER=database``."""
    kind = mode()
    if kind == "database":
        session = db.session()
        if entry["t"] == "search":
            _insert_searches(session, [entry])
        else:
            _apply_clicks(session, [entry], DrainStats(), [])
        session.flush()
        return
    _buffer(entry, kind)


def _buffer(entry: dict, kind: str) -> None:
    line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
    if kind == "redis" and _redis_usable():
        try:
            _redis().rpush(REDIS_PENDING, line)
            return
        except _redis_errors() as exc:
            _redis_failed(exc)
    try:
        _spool_append(line.encode())
    except OSError:  # a full disk must not fail a search: the entry is lost, the page is answered
        current_app.logger.exception("search log entry lost (the spool could not be written)")


def search_entry(
    source: SearchSource, query: str, normalized: str, result_count: int, user_id: int | None, now: datetime
) -> dict:
    return {
        "t": "search",
        "id": new_id(),
        "at": now.isoformat(),
        "q": query,
        "nq": normalized,
        "src": source.value,
        "n": int(result_count),
        "user": user_id,
    }


def click_entry(search: str | int, doc: Article | Faq, now: datetime) -> dict:
    entry: dict = {"t": "click", "at": now.isoformat()}
    entry["search" if isinstance(search, str) else "search_id"] = search
    entry["article" if isinstance(doc, Article) else "faq"] = doc.id
    return entry


# -- the spool ------------------------------------------------------------------------------------------------------


def spool_root() -> Path:
    return Path(current_app.instance_path) / "search_log"


def _spool_dirs() -> tuple[Path, Path]:
    root = spool_root()
    return root / "spool", root / "claimed"


def _same_file(fd: int, path: Path) -> bool:
    """``fd`` is still the file at ``path`` (not renamed away by a drain, nor removed)."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (at_path.st_dev, at_path.st_ino)


def _spool_append(data: bytes) -> None:
    """Append one line to this process's spool file. The shared lock and the check that the file is still in the
    spool make the drain's rename (under the exclusive lock) a clean cut: a line lands before it, or in a new file."""
    spool, _claimed = _spool_dirs()
    path = spool / f"{socket.gethostname()}-{os.getpid()}.jsonl"
    for _attempt in range(10):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except FileNotFoundError:
            spool.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _same_file(fd, path):
                os.write(fd, data)
                return
        finally:
            os.close(fd)  # also releases the lock
    raise OSError(f"could not append to {path}")


def _claim_spool() -> None:
    spool, claimed = _spool_dirs()
    if not spool.is_dir():
        return
    claimed.mkdir(parents=True, exist_ok=True)
    for path in sorted(spool.glob("*.jsonl")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for appends in progress (a single write each)
            if not _same_file(fd, path):
                continue  # another drain took it meanwhile
            if os.fstat(fd).st_size == 0:
                os.unlink(path)
            else:
                os.rename(path, claimed / f"{time.time_ns():020d}-{path.stem}-{uuid.uuid4().hex[:8]}.jsonl")
        finally:
            os.close(fd)


class _SpoolSource:
    def __init__(self, path: Path):
        self.path = path
        self.key = f"spool:{path.name}"

    def lines(self) -> Iterator[bytes]:
        try:
            with open(self.path, "rb") as handle:
                yield from handle
        except FileNotFoundError:  # another drain finished it (its rows are committed)
            return

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


# -- Redis ----------------------------------------------------------------------------------------------------------


def _redis():
    from redis import Redis

    url = current_app.config["REDIS_URL"]
    cache = current_app.extensions.setdefault("search_log_redis", {})
    if url not in cache:
        cache[url] = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return cache[url]


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    return (RedisConnectionError, RedisTimeout, OSError)


def _redis_usable() -> bool:
    return time.monotonic() >= current_app.extensions.get("search_log_redis_paused_until", 0.0)


def _redis_failed(exc: Exception) -> None:
    current_app.extensions["search_log_redis_paused_until"] = time.monotonic() + REDIS_PAUSE_SECONDS
    current_app.logger.warning("search log: Redis did not answer (%s); the spool takes entries for a while", exc)


def _claim_redis(connection) -> list[str]:
    """Rename the pending list to a claimed key (atomically with listing it in the claims set), then every claimed
    key: this one and those of drains that stopped before finishing."""
    if connection.llen(REDIS_PENDING):
        key = f"portal:kb-search-log:claimed:{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        pipe = connection.pipeline(transaction=True)
        pipe.rename(REDIS_PENDING, key)
        pipe.sadd(REDIS_CLAIMS, key)
        pipe.execute(raise_on_error=False)  # a rename that found nothing: the key never exists (dropped below)
    return sorted(k.decode() if isinstance(k, bytes) else k for k in connection.smembers(REDIS_CLAIMS))


class _RedisSource:
    CHUNK = 1000

    def __init__(self, connection, key: str):
        self.connection, self.key = connection, f"redis:{key}"
        self.name = key

    def lines(self) -> Iterator[bytes]:
        start = 0
        while True:
            chunk = self.connection.lrange(self.name, start, start + self.CHUNK - 1)
            yield from chunk
            if len(chunk) < self.CHUNK:
                return
            start += self.CHUNK

    def discard(self) -> None:
        pipe = self.connection.pipeline(transaction=True)
        pipe.delete(self.name)
        pipe.srem(REDIS_CLAIMS, self.name)
        pipe.execute()


# -- draining -------------------------------------------------------------------------------------------------------


def _sources() -> list:
    _claim_spool()
    _spool, claimed = _spool_dirs()
    sources: list = [_SpoolSource(p) for p in sorted(claimed.glob("*.jsonl"))] if claimed.is_dir() else []
    if current_app.config.get("REDIS_URL") and _redis_usable():
        try:
            connection = _redis()
            sources += [_RedisSource(connection, key) for key in _claim_redis(connection)]
        except _redis_errors() as exc:
            _redis_failed(exc)
    return sources


def _batches(sources: Iterable, size: int, stats: DrainStats) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for source in sources:
        for line in source.lines():
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or entry.get("t") not in ("search", "click"):
                    raise ValueError("not an entry")
            except ValueError:
                stats.unreadable += 1
                continue
            batch.append(entry)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def drain(*, commit: bool = True, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> DrainStats:
    """Move what waits in the buffer into the database, ``batch_size`` entries a transaction: searches first (of
    every claimed source), then clicks. ``commit=False`` works inside the caller's transaction instead (flushes, never
    commits) and lets the sources go only once that transaction commits."""
    session = db.session()
    now = now or utcnow()
    stats = DrainStats()
    in_flight = session.info.setdefault(_SESSION_KEY, {})
    sources = [s for s in _sources() if s.key not in in_flight]
    if not sources:
        return stats
    for batch in _batches(sources, batch_size, stats):
        stats.searches += _insert_searches(session, [e for e in batch if e["t"] == "search"])
        session.commit() if commit else session.flush()
    unresolved: list[dict] = []
    for batch in _batches(sources, batch_size, DrainStats()):  # (unreadable lines were counted above)
        _apply_clicks(session, [e for e in batch if e["t"] == "click"], stats, unresolved)
        session.commit() if commit else session.flush()
    for entry in unresolved:
        if now - _instant(entry.get("at"), now) > ORPHAN_CLICK_AGE:
            stats.dropped += 1
        else:
            stats.deferred += 1
            _buffer(entry, mode())  # back to the buffer: its search comes with a later drain
    if commit:
        for source in sources:
            source.discard()
    else:
        _discard_after_commit(session, sources)
    if stats.dropped or stats.unreadable:
        current_app.logger.warning(
            "search log drain: %d clicks given up, %d unreadable lines", stats.dropped, stats.unreadable
        )
    return stats


def drain_pending() -> DrainStats:
    """Before a report: what waits in the buffer, moved in within the caller's transaction (the report counts a search
    made a moment ago). Cheap when nothing waits."""
    if mode() == "database":
        return DrainStats()
    return drain(commit=False)


def _discard_after_commit(session: Session, sources: list) -> None:
    in_flight = session.info.setdefault(_SESSION_KEY, {})
    if not session.info.get(_SESSION_KEY + ":hooked"):
        session.info[_SESSION_KEY + ":hooked"] = True
        event.listen(session, "after_commit", _on_commit)
        event.listen(session, "after_rollback", _on_rollback)
    for source in sources:
        in_flight[source.key] = source


def _on_commit(session: Session) -> None:
    in_flight = session.info.get(_SESSION_KEY) or {}
    for source in list(in_flight.values()):
        try:
            source.discard()
        except Exception:  # left claimed: the next drain reads it again and adds nothing twice
            current_app.logger.exception("search log: could not remove a drained source")
    in_flight.clear()


def _on_rollback(session: Session) -> None:
    (session.info.get(_SESSION_KEY) or {}).clear()  # still claimed: the next drain moves them in again


def _instant(value, default: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return default
    return parsed if parsed.tzinfo is not None else default


def _existing(session: Session, column, ids: set) -> set:
    ids = {i for i in ids if isinstance(i, int)}
    return set(session.scalars(select(column).where(column.in_(ids)))) if ids else set()


def _insert(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["uuid"])


def _insert_searches(session: Session, entries: list[dict]) -> int:
    """Insert the searches not in the table yet; returns how many were new. A user deleted meanwhile becomes None
    (as the foreign key's ON DELETE SET NULL would have done)."""
    rows: dict[str, dict] = {}
    for entry in entries:
        try:
            source = SearchSource(entry["src"])
            rows[str(entry["id"])] = {
                "uuid": str(entry["id"])[:36],
                "query": str(entry.get("q") or "")[:500],
                "normalized_query": str(entry.get("nq") or "")[:500],
                "source": source,
                "result_count": int(entry.get("n") or 0),
                "user_id": entry.get("user"),
                "created_at": _instant(entry.get("at"), utcnow()),
            }
        except (KeyError, TypeError, ValueError):
            continue
    if not rows:
        return 0
    known = set(session.scalars(select(SearchLog.uuid).where(SearchLog.uuid.in_(list(rows)))))
    new = [row for key, row in rows.items() if key not in known]
    if not new:
        return 0
    users = _existing(session, User.id, {row["user_id"] for row in new})
    for row in new:
        if row["user_id"] not in users:
            row["user_id"] = None
    session.execute(_insert(session), new)
    return len(new)


def _apply_clicks(session: Session, clicks: list[dict], stats: DrainStats, unresolved: list[dict]) -> None:
    """The first followed result of each search: a conditional UPDATE (a search that has its click keeps it).
    A click whose search is not in the table is left in ``unresolved``."""
    if not clicks:
        return
    uuids = {str(c["search"]) for c in clicks if isinstance(c.get("search"), str)}
    ids = {c["search_id"] for c in clicks if isinstance(c.get("search_id"), int)}
    columns = (SearchLog.id, SearchLog.uuid, SearchLog.clicked_article_id, SearchLog.clicked_faq_id)
    found = []
    if uuids:
        found += session.execute(select(*columns).where(SearchLog.uuid.in_(uuids))).all()
    if ids:
        found += session.execute(select(*columns).where(SearchLog.id.in_(ids))).all()
    by_uuid = {row.uuid: row for row in found if row.uuid}
    by_id = {row.id: row for row in found}
    clicked = {row.id for row in found if row.clicked_article_id is not None or row.clicked_faq_id is not None}
    articles = _existing(session, Article.id, {c.get("article") for c in clicks})
    faqs = _existing(session, Faq.id, {c.get("faq") for c in clicks})
    for click in clicks:
        row = by_uuid.get(click.get("search")) if "search" in click else by_id.get(click.get("search_id"))
        if row is None:
            if "search" in click:
                unresolved.append(click)
            else:
                stats.dropped += 1  # a row id from before the buffer that is no longer there
            continue
        if row.id in clicked:
            continue  # the first click counts
        if click.get("article") in articles:
            values = {"clicked_article_id": click["article"]}
        elif click.get("faq") in faqs:
            values = {"clicked_faq_id": click["faq"]}
        else:
            stats.dropped += 1  # the result was deleted meanwhile
            continue
        result = session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == row.id, _TABLE.c.clicked_article_id.is_(None), _TABLE.c.clicked_faq_id.is_(None))
            .values(**values)
        )
        clicked.add(row.id)
        stats.clicks += result.rowcount or 0
