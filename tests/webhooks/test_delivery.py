"""Retries with backoff on 5xx and network errors (controlled clock), Retry-After on 429, no retry on other 4xx,
the attempt limit, the delivery log (escaped response bodies) and the redeliver button (same webhook id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.models.webhooks import WebhookAttempt, WebhookDelivery
from tests.conftest import csrf_token, login
from tests.ops.conftest import free_port
from tests.webhooks.conftest import assert_signed, create_subscription, run_jobs
from workers.webhooks import webhook_retries

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _delivery() -> WebhookDelivery:
    db.session.expire_all()
    return db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()))


def _attempts(delivery) -> list[WebhookAttempt]:
    return list(
        db.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.id)
        )
    )


def test_500s_are_retried_with_backoff_then_delivered(
    app, client, admin, subscribed, receiver, make_user, make_ticket, time_machine
):
    time_machine.move_to(T0, tick=False)
    _sid, secret = subscribed
    receiver.answer("/hook", (500, {}, b"<b>oops</b> & more"), (503, {}, b"busy"))
    make_ticket(make_user(Role.customer))
    run_jobs()
    first = _delivery()
    assert (first.state, first.attempts, first.last_status) == ("retrying", 1, 500)
    assert timedelta(seconds=54) <= first.next_attempt_at - T0 <= timedelta(seconds=66)  # 1 min ± 10 % jitter

    first_retry = first.next_attempt_at
    time_machine.move_to(first_retry - timedelta(seconds=1), tick=False)
    assert webhook_retries() == 0  # not due yet
    time_machine.move_to(first_retry, tick=False)
    assert webhook_retries() == 1
    run_jobs()
    second = _delivery()
    assert (second.state, second.attempts, second.last_status) == ("retrying", 2, 503)
    gap = second.next_attempt_at - first_retry
    assert timedelta(seconds=270) <= gap <= timedelta(seconds=330)  # then 5 min

    time_machine.move_to(second.next_attempt_at, tick=False)
    assert webhook_retries() == 1
    run_jobs()
    done = _delivery()
    assert (done.state, done.attempts, done.last_status) == ("delivered", 3, 200)
    assert webhook_retries() == 0 and run_jobs() == 0  # confirmed: never sent again
    assert [r.status for r in receiver.received] == [500, 503, 200]
    assert len({r.id for r in receiver.received}) == 1  # the same X-Webhook-Id on every attempt
    for record in receiver.received:
        assert_signed(record, secret)
    attempts = _attempts(done)
    assert [(a.number, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, "retry"),
        (2, 503, "retry"),
        (3, 200, "delivered"),
    ]

    login(client, admin)  # minutes passed: the earlier session went idle
    page = client.get(f"/admin/webhooks/{done.subscription_id}/deliveries/{done.id}")
    assert page.status_code == 200
    assert "&lt;b&gt;oops&lt;/b&gt; &amp; more" in page.text and "<b>oops" not in page.text
    assert "HTTP 503" in page.text and done.uuid in page.text
    log = client.get(f"/admin/webhooks/{done.subscription_id}")
    assert done.uuid in log.text and "delivered" in log.text


def test_410_is_not_retried(app, subscribed, receiver, make_user, make_ticket, time_machine):
    time_machine.move_to(T0, tick=False)
    receiver.answer("/hook", (410, {}, b"gone"))
    make_ticket(make_user(Role.customer))
    run_jobs()
    delivery = _delivery()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("dead", 1, None)
    time_machine.move_to(T0 + timedelta(days=2), tick=False)
    assert webhook_retries() == 0 and run_jobs() == 0
    assert len(receiver.received) == 1


def test_429_honours_retry_after(app, subscribed, receiver, make_user, make_ticket, time_machine):
    time_machine.move_to(T0, tick=False)
    receiver.answer("/hook", (429, {"Retry-After": "600"}, b"slow down"))
    make_ticket(make_user(Role.customer))
    run_jobs()
    delivery = _delivery()
    assert delivery.state == "retrying" and delivery.next_attempt_at == T0 + timedelta(seconds=600)
    time_machine.move_to(T0 + timedelta(seconds=600), tick=False)
    assert webhook_retries() == 1
    run_jobs()
    assert _delivery().state == "delivered" and len(receiver.received) == 2


def test_network_errors_retry_until_the_attempt_limit(
    app, client, admin, allow_local, make_user, make_ticket, monkeypatch, time_machine
):
    time_machine.move_to(T0, tick=False)
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 3)
    login(client, admin)
    create_subscription(client, f"http://127.0.0.1:{free_port()}/nobody-listens")
    make_ticket(make_user(Role.customer))
    run_jobs()
    for _ in range(5):
        delivery = _delivery()
        if delivery.next_attempt_at is None:
            break
        time_machine.move_to(delivery.next_attempt_at, tick=False)
        webhook_retries()
        run_jobs()
    delivery = _delivery()
    assert (delivery.state, delivery.attempts) == ("dead", 3)
    assert all("ConnectionRefused" in a.error for a in _attempts(delivery))


def test_redeliver_sends_the_same_id_again(app, client, subscribed, receiver, make_user, make_ticket):
    sid, secret = subscribed
    make_ticket(make_user(Role.customer))
    run_jobs()
    delivery = _delivery()
    assert delivery.state == "delivered"
    path = f"/admin/webhooks/{sid}/deliveries/{delivery.id}"
    assert client.post(f"{path}/redeliver").status_code == 400  # no CSRF token
    response = client.post(f"{path}/redeliver", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 303
    run_jobs()
    assert [r.id for r in receiver.received] == [delivery.uuid, delivery.uuid]
    assert_signed(receiver.received[1], secret)
    again = _delivery()
    assert (again.state, again.attempts) == ("delivered", 2)
    assert [a.trigger for a in _attempts(again)] == ["auto", "redeliver"]


def test_ping_from_the_page(app, client, subscribed, receiver):
    sid, secret = subscribed
    path = f"/admin/webhooks/{sid}"
    assert client.post(f"{path}/ping", data={"csrf_token": csrf_token(client, path)}).status_code == 303
    run_jobs()
    assert receiver.types() == ["ping"]
    assert_signed(receiver.received[0], secret)
