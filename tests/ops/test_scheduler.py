"""The periodic schedule: RQ's CronScheduler loads workers/cron.py and a real worker runs the relay, the SLA sweep
and the hand-over; the embedded scheduler runs the same tasks in-process."""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role
from portal.services.outbox import emit
from tests.ops.conftest import run_worker_burst
from workers.periodic import SCHEDULE, run_due_tasks


def test_rq_cron_runs_the_relay_sweep_and_handover_on_a_real_worker(
    app, monkeypatch, make_org, make_user, make_ticket, rq_config, smtp_server
):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    ticket = make_ticket(customer)
    monkeypatch.setitem(app.config, "JOBS_RELAY_ON_COMMIT", False)  # a leftover, as if Redis had been down
    emit("notify.ticket_status", {"ticket_id": ticket.id, "old": "open", "new": "solved", "actor_id": None})
    db.session.commit()

    with Redis.from_url(rq_config["REDIS_URL"]) as connection:
        cron = CronScheduler(connection=connection)
        cron.load_config_from_file("workers.cron")
        scheduled = {f"{task.__module__}.{task.__name__}" for task, _every, _queue in SCHEDULE}
        assert {job.func_name for job in cron.get_jobs()} == scheduled  # rq cron runs exactly the one schedule
        assert {
            "workers.periodic.relay_outbox",
            "workers.periodic.sla_sweep",
            "workers.periodic.shift_handover",
            "workers.periodic.csat_expiry",
            "workers.reports_jobs.schedule_report_emails",
        } <= scheduled
        assert len(cron.enqueue_jobs()) == len(SCHEDULE)
    output = run_worker_burst(rq_config)
    assert "relay_outbox" in output and "sla_sweep" in output and "shift_handover" in output
    assert "csat_expiry" in output and "schedule_report_emails" in output
    assert len(mailbox.to(customer.email)) == 1  # the relay job enqueued the leftover, the worker sent it
    db.session.expire_all()
    assert (
        db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.kind == "notify.ticket_status"))
        is OutboxStatus.done
    )


def test_embedded_scheduler_tick_runs_due_rows_in_process(
    app, make_org, make_user, make_ticket, jobs_config, smtp_server
):
    _controller, mailbox = smtp_server
    customer = make_user(Role.customer, organization=make_org())
    ticket = make_ticket(customer)
    emit("notify.ticket_status", {"ticket_id": ticket.id, "old": "open", "new": "pending", "actor_id": None})
    db.session.commit()
    last_run: dict[str, float] = {}
    run_due_tasks(app, last_run)
    run_due_tasks(app, last_run)  # intervals not elapsed: nothing runs twice
    assert set(last_run) == {task.__name__ for task, _every, _queue in SCHEDULE}
    assert len(mailbox.to(customer.email)) == 1
