"""Attachment commands: ``flask attachments sweep`` removes stored files no row points at (a process that died
between writing a file and committing its row) and stale temporary upload files."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

attachments_cli = AppGroup("attachments", help="Files attached to tickets.")


@attachments_cli.command("sweep")
@click.option("--hours", type=click.IntRange(min=1), default=1, show_default=True, help="Only files older than this.")
def sweep(hours: int) -> None:
    """Remove orphaned attachment files."""
    from portal.services.attachments import sweep_orphans

    removed = sweep_orphans(older_than=timedelta(hours=hours))
    click.echo(f"Removed {removed} orphaned file{'s' if removed != 1 else ''}.")
