"""The periodic search log drain: KB searches and followed results noted in the search log buffer (spool files or a
Redis list, see ``portal.services.kb.search_log_buffer``) move into ``kb_search_logs`` in batches."""

from __future__ import annotations

from dataclasses import asdict

from portal.services.kb.search_log_buffer import drain
from workers.context import job_context


def search_log_drain() -> dict[str, int]:
    """Move buffered search log entries into the database (every minute; idempotent, safe to run twice at once)."""
    with job_context():
        return asdict(drain())
