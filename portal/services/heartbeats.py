"""Heartbeats: the last sign of life of each running part (``worker:<host>:<pid>`` with its queues, ``scheduler``,
``mail_poll``), written cheaply and never at the expense of the work that beats.

A beat is written at most every ``MIN_INTERVAL`` seconds per name and process, in a connection of its own (never
the caller's session: a job's transaction is not committed or rolled back by a heartbeat). The connection comes
from an engine without a pool, so an RQ worker that forks a work horse per job never hands a pooled database
connection to its child. Any error is logged and swallowed: a heartbeat must never fail a job.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from portal.extensions import db
from portal.models import utcnow
from portal.models.monitoring import Heartbeat

MIN_INTERVAL = 15.0  # seconds between two writes of the same heartbeat by one process
PRUNE_AFTER = timedelta(days=1)  # rows of workers gone for longer are removed by the health check

_lock = threading.Lock()
_last_write: dict[tuple[int, str], float] = {}
_engines: dict[tuple[int, str], Engine] = {}


def worker_name() -> str:
    """This process's worker heartbeat name: ``worker:<host>:<pid>``."""
    return f"worker:{socket.gethostname()}:{os.getpid()}"


def _engine() -> Engine:
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return db.engine  # an in-memory database exists only in the app's own pool
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_engine(url, poolclass=NullPool)
    return engine


def beat(name: str, kind: str, detail: str = "", *, min_interval: float = MIN_INTERVAL) -> bool:
    """Record that ``name`` is alive now (at most every ``min_interval`` seconds per process). Returns whether a
    row was written. Never raises."""
    key = (os.getpid(), name)
    now_mono = time.monotonic()
    with _lock:
        last = _last_write.get(key)
        if last is not None and now_mono - last < min_interval:
            return False
        _last_write[key] = now_mono
    try:
        _upsert(name, kind, detail[:2000])
        return True
    except (SQLAlchemyError, OSError) as exc:  # best effort: the job or loop that beats carries on
        # (only database and connection errors: an exception a signal handler raises to stop the process — RQ's
        # StopRequested on SIGTERM — must reach the worker, or SIGTERM during a heartbeat would be lost)
        with _lock:
            _last_write.pop(key, None)  # try again at the next beat
        with contextlib.suppress(RuntimeError):  # outside an app context: nobody to tell
            current_app.logger.warning("heartbeat %s not written: %s", name, exc.__class__.__name__)
        return False


def _upsert(name: str, kind: str, detail: str) -> None:
    now = utcnow()
    with _engine().begin() as conn:
        changed = conn.execute(
            update(Heartbeat).where(Heartbeat.name == name).values(last_seen=now, detail=detail, kind=kind)
        ).rowcount
        if changed:
            return
    try:
        with _engine().begin() as conn:
            conn.execute(insert(Heartbeat).values(name=name, kind=kind, detail=detail, started_at=now, last_seen=now))
    except IntegrityError:  # another thread of this name inserted first: its row is as good
        pass


def forget_throttle() -> None:
    """Let the next beat of every name write at once (tests, and a process that just started again)."""
    with _lock:
        _last_write.clear()


def all_heartbeats() -> list[Heartbeat]:
    return list(db.session.scalars(select(Heartbeat).order_by(Heartbeat.kind, Heartbeat.name)))


def prune(now: datetime) -> int:
    """Remove worker rows not seen for ``PRUNE_AFTER`` (each worker process has its own name, by pid)."""
    result = db.session.execute(
        delete(Heartbeat).where(Heartbeat.kind == "worker", Heartbeat.last_seen < now - PRUNE_AFTER)
    )
    return result.rowcount or 0
