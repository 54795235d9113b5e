"""Inbound mail jobs: the mailbox poll and processing of stored messages."""

from __future__ import annotations

from flask import current_app

from portal.services.mail.imap import poll_once
from portal.services.mail.pipeline import finish_stored
from workers.context import job_context


def mail_poll() -> dict | None:
    """Import unseen mail from the IMAP mailbox (every ``IMAP_POLL_SECONDS``; nothing when ``IMAP_HOST`` is unset).
    Idempotent: a message is marked seen only after its outcome is committed, and its IMAP key and Message-ID keep
    a rerun from importing it twice."""
    with job_context():
        finished = finish_stored()  # stored by `mail ingest` (or an interrupted run) but never processed
        if not current_app.config.get("IMAP_HOST"):
            return {"finished": finished} if finished else None
        return {**poll_once().counts(), "finished": finished}
