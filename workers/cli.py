"""``flask --app wsgi jobs ...``: start RQ workers and the cron scheduler against REDIS_URL, or run the relay once."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.services.outbox import QUEUES

jobs_cli = AppGroup("jobs", help="Background jobs: RQ workers, the periodic scheduler, the outbox relay.")


def _require_redis():
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: without Redis the portal runs jobs in-process.")
    from workers.relay import redis_connection

    return redis_connection()


@jobs_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process (no fork per job).")
def worker(queues: tuple[str, ...], burst: bool, simple: bool) -> None:
    """Serve QUEUES (default: notify index sweeps default). Run exactly one worker on the index queue."""
    from rq import SimpleWorker, Worker

    connection = _require_redis()
    names = list(queues) or list(QUEUES)
    cls = SimpleWorker if simple else Worker
    click.echo(f"Worker on {', '.join(names)} ({current_app.config['REDIS_URL']})")
    cls(names, connection=connection).work(burst=burst, with_scheduler=False)


@jobs_cli.command("scheduler")
def scheduler() -> None:
    """Run the periodic schedule (workers/cron.py) with RQ's CronScheduler. One per deployment."""
    from rq.cron import CronScheduler

    cron = CronScheduler(connection=_require_redis())
    cron.load_config_from_file("workers.cron")
    cron.start()


@jobs_cli.command("relay")
def relay() -> None:
    """Hand over due and lost outbox rows once (what the scheduler does every 30 s)."""
    from workers.relay import relay_due

    click.echo(f"Handed over {relay_due()} outbox rows.")


@jobs_cli.command("run-pending")
def run_pending_command() -> None:
    """Run due outbox rows here, synchronously (no Redis needed)."""
    from workers.inline import run_pending

    click.echo(f"Completed {run_pending()} outbox rows.")
