"""Inbound mail commands: ``flask --app wsgi mail ingest`` (an MTA pipes one message to stdin) and
``flask mail reprocess ID``. The mailbox poll adds ``mail poll`` to this group."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db

mail_cli = AppGroup("mail", help="Inbound email.")

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and retries later


def _describe(inbound) -> str:
    from portal.models import Ticket

    parts = [f"message #{inbound.id}", inbound.state.value]
    if inbound.reason:
        parts.append(inbound.reason)
    if inbound.outcome and inbound.outcome not in ("ignored", "quarantined"):
        parts.append(inbound.outcome)
    if inbound.ticket_id:
        ticket = db.session.get(Ticket, inbound.ticket_id)
        if ticket is not None:
            parts.append(ticket.reference)
    return " ".join(parts)


@mail_cli.command("ingest")
def mail_ingest() -> None:
    """Read one RFC 5322 message from stdin and file it. Exit 0 once it is stored (whatever became of it),
    75 (EX_TEMPFAIL) when it cannot be stored, so the MTA retries."""
    from portal.models import InboundSource
    from portal.services.mail import pipeline

    raw = sys.stdin.buffer.read()
    try:
        inbound = pipeline.receive(raw, source=InboundSource.pipe)
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"mail ingest: the message could not be stored ({exc.__class__.__name__}); retry later.", err=True)
        sys.exit(EX_TEMPFAIL)
    try:
        pipeline.process(inbound)
        db.session.commit()
    except SQLAlchemyError as exc:  # stored and safe: `flask mail reprocess` (or the poll job) finishes it
        db.session.rollback()
        click.echo(f"message #{inbound.id} stored; processing failed ({exc.__class__.__name__}).", err=True)
        return
    click.echo(_describe(inbound))


@mail_cli.command("reprocess")
@click.argument("message_id", type=click.IntRange(1))
def mail_reprocess(message_id: int) -> None:
    """Run a quarantined (or never processed) inbound message through the pipeline again."""
    from portal.models import InboundMessage
    from portal.services.mail import pipeline

    inbound = db.session.get(InboundMessage, message_id)
    if inbound is None:
        raise click.ClickException(f"No inbound message #{message_id}.")
    try:
        pipeline.reprocess(inbound, actor=_operator())
    except pipeline.ReleaseRefused as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(_describe(inbound))


def _operator():
    """The actor of a command-line action: a system stand-in with no account (handled_by stays empty)."""

    class Operator:
        id = None
        name = "the command line"

    return Operator()


# `mail poll` (the mailbox poll) goes below: @mail_cli.command("poll").


@mail_cli.command("poll")
def mail_poll() -> None:
    """Import the unseen mail of the IMAP mailbox once (what the periodic job does every IMAP_POLL_SECONDS).
    Exits 1 when the mailbox cannot be reached or some message could not be imported (it is retried next run)."""
    from flask import current_app

    from portal.services.mail.imap import poll_once

    if not current_app.config.get("IMAP_HOST"):
        raise click.ClickException("IMAP_HOST is not set: there is no mailbox to poll.")
    result = poll_once()
    counts = result.counts()
    click.echo(", ".join(f"{key} {counts[key]}" for key in ("fetched", "processed", "ignored", "quarantined")))
    if counts["already_done"]:
        click.echo(f"{counts['already_done']} imported by an earlier run were marked seen.")
    for error in result.errors:
        click.echo(error, err=True)
    if not result.ok:
        sys.exit(1)
