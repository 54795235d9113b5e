"""A real RQ worker stops: readiness and the health page say so and the admin is alerted once; it starts again:
one recovery notice. The clock of the checks is moved past the stale threshold (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import Heartbeat, OutboxMessage, Role, utcnow
from portal.services import health, heartbeats
from tests.conftest import login
from tests.health.conftest import start_jobs_worker, stop_jobs_worker
from tests.ops.conftest import wait_for
from workers import health as health_job
from workers import runner


def _worker_beats() -> list[Heartbeat]:
    db.session.expire_all()
    return list(db.session.scalars(select(Heartbeat).where(Heartbeat.kind == "worker")))


def _rows(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def _check() -> dict:
    """What ``jobs scheduler`` runs every 60 s: the checks, the verdicts recorded, the notices sent right away."""
    return health_job.health_check(from_scheduler=True)


def _check_twice() -> list[dict]:
    heartbeats.beat("scheduler", "scheduler", "test", min_interval=0)  # the scheduler is fine at this instant
    return [_check(), _check()]


def test_worker_stopped_is_alerted_once_and_its_recovery_once(
    app, client, monkeypatch, make_user, jobs_config, smtp_server, slack_receiver, redis_url
):
    _controller, mailbox = smtp_server
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    config = {**jobs_config, "REDIS_URL": redis_url}
    admin = make_user(Role.admin, email="admin@support.test")
    stale = app.config["HEALTH_HEARTBEAT_STALE_SECONDS"]

    worker = start_jobs_worker(config)
    try:
        beats = wait_for(_worker_beats, timeout=30)
    finally:
        output = stop_jobs_worker(worker)
    assert beats[0].detail == "notify,index,sweeps,default", output
    assert [r.name for r in health.run_checks() if r.name == "workers" and r.ok] == ["workers"]
    stopped_at = max(b.last_seen for b in _worker_beats())

    later = stopped_at + timedelta(seconds=stale + 60)
    with time_machine.travel(later, tick=False):
        first, second = _check_twice()
        assert "workers" not in first  # seen once: not announced yet
        assert second.get("workers") == "alert"
        assert _check().get("workers") is None  # announced once
        alerts = _rows("health.alert")
        assert [a.payload["check"] for a in alerts] == ["workers"]
        assert runner.process(alerts[0].id) == "skipped"  # sent by the check itself: no worker needed

        ready = client.get("/readyz")
        assert ready.status_code == 200  # the web tier can still serve: a worker outage is reported, not fatal
        assert ready.json["checks"]["workers"]["ok"] is False
        assert "stopped" in ready.json["checks"]["workers"]["detail"]
        assert "workers" in ready.json["failing"]

        login(client, admin)
        page = client.get("/ops/health")
        assert page.status_code == 200
        row = page.text.split('data-check="workers"', 1)[1].split("</tr>", 1)[0]
        assert "Failing" in row and "stopped: no worker heartbeat" in row

    mails = mailbox.to(admin.email)
    assert len(mails) == 1
    assert "Workers" in mails[0]["Subject"] and "failing" in mails[0]["Subject"]
    assert "stopped" in mails[0].get_body(("plain",)).get_content()
    assert len(slack_receiver.received) == 1 and "Workers" in slack_receiver.received[0]["text"]

    worker = start_jobs_worker(config)
    try:
        wait_for(lambda: any(b.last_seen > stopped_at for b in _worker_beats()), timeout=30)
        first, second = _check_twice()
    finally:
        stop_jobs_worker(worker)
    assert "workers" not in first and second.get("workers") == "recovered"
    assert _check().get("workers") is None
    recovered = _rows("health.recovered")
    assert len(recovered) == 1
    assert runner.process(recovered[0].id) == "skipped"  # done: never sent twice

    mails = mailbox.to(admin.email)
    assert len(mails) == 2 and mails[1]["Subject"].startswith("Recovered: Workers")
    assert len(_rows("health.alert")) == 1
    assert utcnow() >= stopped_at
