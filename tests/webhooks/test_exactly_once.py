"""Exactly once across a worker kill, with real processes: ``flask jobs run-pending`` delivers to a real HTTP
receiver and is killed with SIGKILL while the receiver holds one POST unanswered. After a restart every delivery
id has arrived and was confirmed (2xx) once; the cut one was re-sent with the same X-Webhook-Id (what receivers
dedupe by); nothing confirmed was sent again, nothing was lost."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.models.webhooks import WebhookAttempt, WebhookDelivery
from tests.ops.conftest import ROOT, kill_worker, worker_env
from tests.webhooks.conftest import assert_signed
from workers.webhooks import webhook_retries

CONFIG = {
    "REDIS_URL": "",
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_FROM": "support@support.test",
    "SLACK_WEBHOOK_URL": "",
}


def _run_pending() -> subprocess.Popen:
    env = worker_env(CONFIG)
    env.update({"WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "JOBS_RELAY_ON_COMMIT": "0", "JOBS_EMBEDDED_SCHEDULER": "0"})
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "run-pending"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_send_cut_by_sigkill_is_resent_with_the_same_id_and_confirmed_once(
    app, subscribed, receiver, make_user, make_ticket, monkeypatch
):
    _sid, secret = subscribed
    # A send whose worker is gone is uncertain at once here (production: DELIVERY_UNCERTAIN_AFTER, 300 s).
    monkeypatch.setitem(app.config, "DELIVERY_UNCERTAIN_AFTER", 0)
    customer = make_user(Role.customer)
    for n in range(6):
        make_ticket(customer, subject=f"Import {n} fails")
    db.session.commit()
    ids = set(db.session.scalars(select(WebhookDelivery.uuid)))
    assert len(ids) == 6
    receiver.stall_on = {3}  # the third POST is received and never answered

    worker = _run_pending()
    try:
        assert receiver.stalled.wait(60), "the receiver never got the third POST"
    finally:
        kill_worker(worker)  # SIGKILL, mid-send
    receiver.release.set()
    db.session.expire_all()
    cut = receiver.received[2].id
    assert db.session.scalar(select(WebhookDelivery.state).where(WebhookDelivery.uuid == cut)) == "sending"

    assert webhook_retries() == 1  # the periodic task hands the uncertain send back to the outbox
    restarted = _run_pending()
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output.decode()

    received = Counter(r.id for r in receiver.received)
    confirmed = Counter(receiver.confirmed_ids())
    assert set(received) == ids  # none lost
    assert set(confirmed) == ids and set(confirmed.values()) == {1}  # each confirmed exactly once
    assert received[cut] == 2 and sum(received.values()) == 7  # only the cut send went twice, same id
    first, again = [r for r in receiver.received if r.id == cut]
    assert first.body == again.body
    for record in receiver.received:
        assert_signed(record, secret)
    db.session.expire_all()
    assert set(db.session.scalars(select(WebhookDelivery.state))) == {"delivered"}
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.uuid == cut))
    attempts = list(db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)))
    assert [(a.number, a.trigger, a.outcome) for a in attempts] == [
        (1, "auto", "unknown"),
        (2, "takeover", "delivered"),
    ]
    assert webhook_retries() == 0  # nothing left to hand over
