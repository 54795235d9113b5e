"""The periodic attachment job: remove files that lost their rows (a crash between writing and committing)."""

from __future__ import annotations

from portal.services.attachments import sweep_orphans
from workers.context import job_context


def attachment_sweep() -> int:
    """Orphaned attachment files older than an hour (hourly; idempotent)."""
    with job_context():
        return sweep_orphans()
