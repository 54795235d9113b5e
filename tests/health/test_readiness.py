"""/readyz (public, cheap, 200 or 503), the ops health page (managers and admins) and the recorded verdicts."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import HealthCheck, OutboxMessage, Role
from portal.services import health
from tests.conftest import make_test_app
from tests.ops.conftest import free_port


def test_readyz_answers_200_with_every_check_and_sets_no_cookie(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True and body["checks"]["database"]["required"] is True
    assert body["checks"]["redis"]["skipped"] is True  # no REDIS_URL: jobs run in-process
    for name in ("queues", "workers", "scheduler", "outbox_lag", "outbox_failed", "index_lag", "mail_poll"):
        assert name in body["checks"]
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_503_when_the_database_is_unreachable(app):
    from tests.conftest import _Config

    class Unreachable(_Config):
        SQLALCHEMY_DATABASE_URI = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"

    broken = make_test_app(Unreachable)
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "fail"
    assert response.json["checks"]["database"]["ok"] is False
    assert "unavailable" in response.json["checks"]["database"]["detail"]
    assert "database" in response.json["failing"]
    with broken.app_context():
        db.session.remove()
        db.engine.dispose()


def test_readyz_503_when_redis_is_down(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"]["ok"] is False
    assert response.json["checks"]["database"]["ok"] is True


def test_readyz_200_with_redis_up(client, app, monkeypatch, redis_url):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["redis"]["ok"] is True
    assert response.json["checks"]["queues"]["value"]["notify"] == {"depth": 0, "oldest_seconds": None}


def test_health_page_is_for_managers_and_admins(client, make_user, login_as):
    anonymous = client.get("/ops/health")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    agent = make_user(Role.senior_agent)
    login_as(agent)
    assert client.get("/ops/health").status_code == 403
    assert client.get("/ops/health/board").status_code == 403


def test_health_page_lists_every_check_in_text_with_a_polite_live_region(client, make_user, login_as):
    manager = make_user(Role.manager)
    login_as(manager)
    page = client.get("/ops/health")
    assert page.status_code == 200
    html = page.text
    for label in ("Database", "Redis", "Job queues", "Workers", "Scheduler", "Outbox lag", "Search index"):
        assert f">{label}" in html
    assert 'aria-live="polite"' in html and 'hx-trigger="every 30s"' in html
    assert "Failing" in html and "OK" in html  # state in words, not colour alone
    board = client.get("/ops/health/board", headers={"HX-Request": "true"})
    assert board.status_code == 200 and 'hx-swap-oob="innerHTML"' in board.text


def test_outbox_lag_and_failed_rows_are_checked(app, monkeypatch):
    from datetime import timedelta

    from portal.models import OutboxStatus, utcnow

    now = utcnow()
    db.session.add(OutboxMessage(kind="notify.x", queue="notify", payload={}, available_at=now - timedelta(hours=1)))
    db.session.add(
        OutboxMessage(
            kind="index.ticket", queue="index", payload={"ticket_id": 1}, available_at=now - timedelta(hours=2)
        )
    )
    db.session.add(OutboxMessage(kind="notify.y", queue="notify", payload={}, status=OutboxStatus.failed))
    db.session.commit()
    results = {r.name: r for r in health.run_checks(now)}
    assert results["outbox_lag"].ok is False and results["outbox_lag"].value >= 7200
    assert results["outbox_failed"].ok is False and results["outbox_failed"].value == 1
    assert results["index_lag"].ok is False and results["index_lag"].value >= 7200
    assert results["queues"].value["index"]["depth"] == 1


def test_a_check_that_flaps_within_one_interval_sends_nothing(app, monkeypatch):
    verdicts = iter([False, True, False, True, False, False, False])

    def fake(now, beats):
        return health.CheckResult("scheduler", next(verdicts), "test")

    monkeypatch.setattr(health, "check_scheduler", fake)
    sent = [health.run_health_check().get("scheduler") for _ in range(5)]
    assert sent == [None] * 5  # fail, ok, fail, ok, fail: never confirmed
    assert health.run_health_check().get("scheduler") == "alert"  # the failure seen twice in a row
    assert health.run_health_check().get("scheduler") is None  # and announced once
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "health.alert")).all()
    assert [r.payload["check"] for r in rows].count("scheduler") == 1
    row = db.session.scalar(select(HealthCheck).where(HealthCheck.name == "scheduler"))
    assert row.ok is False and row.alerted_at is not None
