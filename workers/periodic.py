"""Periodic work, shared by ``rq cron`` (workers/cron.py) and the embedded scheduler thread.

Each task runs in its own application context and commits its own work; outbox rows it writes are handed over after
that commit like any others. Tasks owned by other parts (SLA sweep, shift hand-over) are imported lazily and skipped
while their module does not exist yet.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from flask import Flask, current_app

from portal.extensions import db
from workers.context import job_context


def _call_optional(module: str, function: str):
    try:
        fn: Callable = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return f"skipped: {module}.{function} is not available"
    result = fn()
    db.session.commit()
    return result


def relay_outbox():
    """Hand over due and lost outbox rows (every 30 s)."""
    from workers.relay import relay_due

    with job_context():
        return relay_due()


def sla_sweep():
    """At-risk and breach detection and automatic escalation (every minute)."""
    with job_context():
        return _call_optional("portal.services.sla", "run_sweep")


def shift_handover():
    """Hand open critical/high tickets of an ending shift to the next one (checked every minute)."""
    with job_context():
        return _call_optional("portal.services.routing", "run_handover")


# (task, every N seconds, queue) — the one schedule, read by workers/cron.py and the embedded scheduler.
SCHEDULE: tuple[tuple[Callable, int, str], ...] = (
    (relay_outbox, 30, "default"),
    (sla_sweep, 60, "sweeps"),
    (shift_handover, 60, "sweeps"),
)


def run_due_tasks(app: Flask, last_run: dict[str, float]) -> None:
    """One tick of the embedded scheduler: run each task whose interval has passed."""
    now = time.monotonic()
    for task, every, _queue in SCHEDULE:
        if now - last_run.get(task.__name__, -1e9) < every:
            continue
        last_run[task.__name__] = now
        with app.app_context():
            try:
                task()
            except Exception:
                current_app.logger.exception("periodic task %s failed", task.__name__)
