"""``flask --app wsgi tickets import FILE`` and ``flask --app wsgi tickets export FILE``: ticket history from another
help desk in, and the portal's history out, as JSON Lines (``docs/import.md``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO

import click
from flask.cli import AppGroup

tickets_cli = AppGroup(
    "tickets", help="Ticket history: import from another help desk, export (JSON Lines); repair the open counters."
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_UNREADABLE = 0, 1, 2


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    yield from stream


@tickets_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Check every line (staff included) and store nothing.")
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(dir_okay=False, writable=True, allow_dash=False),
    help="Also write the lines that failed to this file, as JSON Lines: {line, external_id, reason}.",
)
@click.option(
    "--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000), help="Tickets per commit."
)
@click.option("--no-index", is_flag=True, help="Do not write the search index (run `flask search rebuild` after).")
def import_command(file: str, dry_run: bool, errors_file: str | None, batch_size: int, no_index: bool) -> None:
    """Import the tickets of FILE (JSON Lines, one ticket per line, UTF-8; - reads standard input).

    Each line is checked completely before anything of it is stored; a line that fails is reported with its line
    number and reason and stores nothing, the other lines are imported. Tickets whose external_id is already
    stored are skipped, so importing a file again imports nothing new. Nothing is sent to anybody.

    Exit status: 0 when no line failed, 1 when some lines failed (the others are imported), 2 when FILE is missing
    or cannot be read.
    """
    from portal.services.history_import import import_lines

    try:
        stream = click.open_file(file, "rb")
    except OSError as exc:
        click.echo(f"Cannot read {file}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    mode = "Checking" if dry_run else "Importing"
    click.echo(f"{mode} {file} ...", err=True)

    def progress(result) -> None:
        rate = result.lines / result.seconds if result.seconds else 0.0
        click.echo(
            f"  {result.lines:,} lines: {result.imported:,} {'valid' if dry_run else 'imported'}, "
            f"{result.already_imported:,} already imported, {len(result.errors):,} failed — "
            f"{rate:,.0f} lines/s, {result.seconds:.1f}s",
            err=True,
        )

    try:
        with stream:
            result = import_lines(
                _lines(stream), dry_run=dry_run, batch_size=batch_size, index=not no_index, progress=progress
            )
    except OSError as exc:
        click.echo(f"Cannot read {file}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    for error in result.errors:
        click.echo(f"line {error.line}: {error.reason}")
    if errors_file:
        with open(errors_file, "w", encoding="utf-8") as out:
            for error in result.errors:
                out.write(json.dumps(error.as_json(), ensure_ascii=False) + "\n")
    verb = "would be imported (dry run: nothing stored)" if dry_run else "imported"
    click.echo(
        f"{result.imported:,} {verb}, {result.already_imported:,} already imported, {len(result.errors):,} failed "
        f"({result.lines:,} lines in {result.seconds:.1f}s)."
    )
    if result.index_problem:
        click.echo(
            f"The search index could not be written ({result.index_problem}); run `flask --app wsgi search rebuild`.",
            err=True,
        )
    sys.exit(EXIT_SOME_FAILED if result.errors else EXIT_OK)


@tickets_cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
def export_command(file: str) -> None:
    """Write every ticket's history to FILE in the import's format (JSON Lines, in id order; - writes standard
    output). Importing FILE into another portal gives the same tickets and the same history."""
    import time

    from portal.extensions import db
    from portal.services import audit
    from portal.services.history_export import iter_lines

    started, count = time.perf_counter(), 0
    with click.open_file(file, "w", encoding="utf-8") as out:
        audit.record(
            "export.download",
            target_type="tickets",
            target_label="ticket history (JSON Lines)",
            detail=f"tickets export CLI to {file}",
            actor=None,
        )
        db.session.commit()  # recorded before the first ticket leaves the database
        for line in iter_lines():
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
            if count % 5000 == 0:
                click.echo(f"  {count:,} tickets ({count / (time.perf_counter() - started):,.0f}/s)", err=True)
    click.echo(f"Exported {count:,} tickets to {file} in {time.perf_counter() - started:.1f}s.", err=True)


@tickets_cli.command("recount")
@click.option("--check", is_flag=True, help="Only compare the counters with the tickets; exit 1 if any differs.")
def recount_command(check: bool) -> None:
    """Rebuild the ticket counters (queue counts, per-person open loads, the at-risk count at a checkpoint set to
    now, customers' open and solved counts) from the tickets. They are kept exact by database triggers; this repairs
    them after writes made with the triggers disabled (a bulk load)."""
    from portal.extensions import db
    from portal.services import counters

    if check:
        wrong = counters.mismatches()
        for key, (have, want) in wrong.items():
            click.echo(f"{key}: counted {have}, tickets say {want}")
        click.echo(f"{len(wrong)} counter(s) differ" if wrong else "All counters match the tickets.")
        sys.exit(1 if wrong else 0)
    click.echo("Counting tickets...")
    counts = counters.recount()
    db.session.commit()
    people = sum(1 for key in counts if key.startswith("assignee:"))
    click.echo(
        f"Recounted: {counts.get(counters.OPEN, 0)} open tickets, {people} people with open tickets, "
        f"{counts.get(counters.AT_RISK, 0)} at risk, {counts.get(counters.SOLVED, 0)} solved."
    )
