"""``flask --app wsgi search rebuild`` and ``flask --app wsgi search check``."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import AppGroup

search_cli = AppGroup("search", help="Search indexes (Whoosh): rebuild from the database, check for drift.")

INDEXES = ("kb", "tickets")


@search_cli.command("rebuild")
@click.option("--only", type=click.Choice(INDEXES), help="Rebuild one index (default: both).")
def rebuild(only: str | None) -> None:
    """Recreate the indexes from the database (the source of truth). Searches keep working meanwhile and switch to
    the new documents when each index is committed."""
    from portal.search import indexing
    from portal.search.store import index_root

    click.echo(f"Index directory: {index_root()}")
    for name, build in (("kb", indexing.rebuild_kb), ("tickets", indexing.rebuild_tickets)):
        if only and only != name:
            continue
        started = time.perf_counter()
        click.echo(f"Rebuilding the {name} index ...")
        count = build(echo=click.echo)
        click.echo(f"  {name}: {count:,} documents in {time.perf_counter() - started:.1f}s")


@search_cli.command("check")
@click.option("--show", default=10, show_default=True, help="How many ids to list per problem.")
@click.option("--quick", is_flag=True, help="Compare change stamps only, not the content of every document.")
def check(show: int, quick: bool) -> None:
    """Report documents missing from an index, stale (their content differs from the database's: every document
    is built again from its row and their digests compared) or orphaned (row deleted). Exits with status 1 when
    anything is off; `search rebuild` repairs it."""
    from portal.search import indexing

    problems = False
    for report in (indexing.check_kb(content=not quick), indexing.check_tickets(content=not quick)):
        compared = "content" if report.content_checked else "change stamps only"
        click.echo(
            f"{report.index}: {report.rows:,} rows, {report.documents:,} documents ({compared}) — "
            f"{len(report.missing)} missing, {len(report.stale)} stale, {len(report.orphaned)} orphaned"
        )
        if not report.schema_current:
            click.echo(f"  the {report.index} index was built with another release's fields: rebuild it")
        for label, ids in (("missing", report.missing), ("stale", report.stale), ("orphaned", report.orphaned)):
            if ids:
                more = f" (+{len(ids) - show} more)" if len(ids) > show else ""
                click.echo(f"  {label}: {', '.join(ids[:show])}{more}")
        problems = problems or not report.ok
    if problems:
        click.echo("Run `flask --app wsgi search rebuild` to repair.")
        sys.exit(1)
    click.echo("Indexes match the database.")
