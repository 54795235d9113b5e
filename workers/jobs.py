"""RQ job entry points. ``run_outbox`` is what every ``outbox-<id>`` job calls."""

from __future__ import annotations

from workers.context import job_context


def run_outbox(message_id: int) -> str:
    """Run outbox row ``message_id`` (idempotent: a done, failed or already-claimed row is skipped)."""
    from workers import runner

    with job_context():
        return runner.process(message_id)
