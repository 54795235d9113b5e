"""Heartbeats: written cheaply (throttled, own connection), never failing the caller; the embedded runner thread
and the schedulers write theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.exceptions import StopRequested
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import Heartbeat, utcnow
from portal.services import health, heartbeats
from tests.ops.conftest import wait_for
from workers import embedded, periodic


def _beat_rows() -> dict[str, Heartbeat]:
    db.session.expire_all()
    return {b.name: b for b in db.session.scalars(select(Heartbeat))}


def test_a_heartbeat_is_throttled_and_never_raises(app, monkeypatch):
    assert heartbeats.beat("worker:test:1", "worker", "notify") is True
    assert heartbeats.beat("worker:test:1", "worker", "notify") is False  # within 15 s: not written again
    assert heartbeats.beat("worker:test:1", "worker", "index", min_interval=0) is True
    assert _beat_rows()["worker:test:1"].detail == "index"

    def broken(*_args):
        raise OperationalError("UPDATE heartbeats ...", {}, ConnectionRefusedError("database gone"))

    monkeypatch.setattr(heartbeats, "_upsert", broken)
    assert heartbeats.beat("worker:test:2", "worker", "notify") is False  # logged, swallowed
    assert "worker:test:2" not in _beat_rows()


def test_a_stop_request_during_a_heartbeat_reaches_the_worker(app, monkeypatch):
    """RQ stops a worker on SIGTERM by raising StopRequested from its signal handler, wherever the worker is: a
    heartbeat being written at that moment must let it through, or the worker would never stop."""

    def interrupted(*_args):
        raise StopRequested()

    monkeypatch.setattr(heartbeats, "_upsert", interrupted)
    with pytest.raises(StopRequested):
        heartbeats.beat("worker:test:3", "worker", "notify", min_interval=0)


def test_the_embedded_runner_thread_beats_and_counts_as_a_worker(app):
    assert health.check_workers(utcnow(), heartbeats.all_heartbeats()).ok is False  # nothing runs jobs
    embedded.start(app, scheduler=False)
    try:
        beats = wait_for(lambda: _beat_rows().get(heartbeats.worker_name()), timeout=10)
        assert beats.kind == "worker" and beats.detail.startswith("embedded:")
        result = health.check_workers(utcnow(), heartbeats.all_heartbeats())
        assert result.ok is True and "in-process" in result.detail
    finally:
        assert embedded.shutdown(grace=10)


def test_the_embedded_scheduler_beats_and_a_silent_scheduler_fails(app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_EMBEDDED_SCHEDULER", True)
    now = utcnow()
    assert health.check_scheduler(now, []).ok is False
    periodic._scheduler_heartbeat(app)
    beat = _beat_rows()["scheduler"]
    assert health.check_scheduler(now + timedelta(seconds=5), [beat]).ok is True
    late = now + timedelta(seconds=app.config["HEALTH_HEARTBEAT_STALE_SECONDS"] + 30)
    silent = health.check_scheduler(late, [beat])
    assert silent.ok is False and "silent" in silent.detail


def test_mail_poll_is_only_a_failure_when_a_mailbox_is_configured(app, monkeypatch):
    now = utcnow()
    assert health.check_mail_poll(now, []).ok is True
    monkeypatch.setitem(app.config, "IMAP_HOST", "imap.example.test")
    assert health.check_mail_poll(now, []).ok is False
    heartbeats.beat("mail_poll", "mail_poll", "ok", min_interval=0)
    beat = _beat_rows()["mail_poll"]
    assert health.check_mail_poll(now + timedelta(seconds=30), [beat]).ok is True
    stale = now + timedelta(seconds=health.mail_stale_seconds() + 1)
    assert health.check_mail_poll(stale, [beat]).ok is False
