"""Periodic work, shared by ``rq cron`` (workers/cron.py) and the embedded scheduler thread.

Each task runs in its own application context and commits its own work; outbox rows it writes are handed over after
that commit like any others.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, current_app

from portal.extensions import db
from portal.models import utcnow
from portal.services import counters
from portal.services.csat import expire_due
from portal.services.handover import run_handover
from portal.services.sla_sweep import run_sweep
from workers.attachments import attachment_sweep
from workers.chat import chat_timeouts
from workers.context import job_context
from workers.health import health_check, spike_scan
from workers.incidents import incident_reminders
from workers.mail import mail_poll
from workers.paging import page_escalations
from workers.relay import relay_due
from workers.reports_jobs import schedule_report_emails
from workers.search_log import search_log_drain
from workers.status import maintenance_notices
from workers.webhooks import webhook_retries


def relay_outbox(after_outage: bool = False):
    """Hand over due, lost and uncertain outbox rows (every 30 s; with ``after_outage`` once Redis is back, also the
    rows whose job went with it)."""
    with job_context():
        return relay_due(after_outage=after_outage)


def sla_sweep():
    """At-risk and breach detection and automatic escalation (every minute)."""
    with job_context():
        stats = run_sweep()
        db.session.commit()
        return stats


def shift_handover():
    """Hand open critical/high tickets of an ending shift to the next one (checked every minute)."""
    with job_context():
        result = run_handover()
        db.session.commit()
        return result


def counter_compaction():
    """Move the at-risk counter's checkpoint to now, then fold the ticket counters' pending deltas into their base
    rows (every minute; exact at any moment). Two transactions: ticket writers that must read the checkpoint wait
    only for the first, which is short."""
    with job_context():
        counters.advance_checkpoint(utcnow())
        db.session.commit()
        folded = counters.compact()
        db.session.commit()
        return folded


def csat_expiry():
    """Expire satisfaction surveys nobody answered in time (every 15 minutes; idempotent)."""
    with job_context():
        expired = expire_due(utcnow())
        db.session.commit()
        return expired


# (task, every N seconds, queue) — the one schedule, read by workers/cron.py and the embedded scheduler.
SCHEDULE: tuple[tuple[Callable, int, str], ...] = (
    (relay_outbox, 30, "default"),
    (sla_sweep, 60, "sweeps"),
    (shift_handover, 60, "sweeps"),
    (csat_expiry, 900, "sweeps"),
    (incident_reminders, 60, "sweeps"),
    (schedule_report_emails, 900, "default"),
    (health_check, 60, "sweeps"),
    (spike_scan, 60, "sweeps"),
    (mail_poll, 60, "default"),  # IMAP_POLL_SECONDS' default; nothing happens while IMAP_HOST is unset
    (attachment_sweep, 3600, "sweeps"),
    (maintenance_notices, 60, "sweeps"),  # status subscribers: a maintenance window started or ended
    (chat_timeouts, 30, "sweeps"),  # live chat: idle chats end, unanswered ones become tickets
    (page_escalations, 30, "sweeps"),  # hotline pages nobody acknowledged in time: the next step
    (webhook_retries, 30, "default"),  # outgoing webhooks: due retries and sends a stopped worker left uncertain
    (search_log_drain, 60, "default"),  # KB search log: buffered searches and clicks into the database
    (counter_compaction, 60, "sweeps"),  # ticket counters: at-risk checkpoint to now, fold the triggers' deltas
)


def run_due_tasks(app: Flask, last_run: dict[str, float]) -> None:
    """One tick of the embedded scheduler: run each task whose interval has passed."""
    now = time.monotonic()
    _scheduler_heartbeat(app)
    for task, every, _queue in SCHEDULE:
        if now - last_run.get(task.__name__, -1e9) < every:
            continue
        last_run[task.__name__] = now
        with app.app_context():
            try:
                task()
            except Exception:
                current_app.logger.exception("periodic task %s failed", task.__name__)


def _scheduler_heartbeat(app: Flask) -> None:
    """The embedded scheduler is alive (``Heartbeat`` "scheduler", at most every 15 s; never fails the tick)."""
    try:
        from portal.services import heartbeats

        with app.app_context():
            heartbeats.beat("scheduler", "scheduler", "embedded")
    except Exception:  # a heartbeat is best effort
        pass
