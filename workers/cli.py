"""``flask --app wsgi jobs ...``: start RQ workers and the cron scheduler against REDIS_URL, or run the relay once.

The worker and the scheduler survive Redis outages: down at start or gone while running, they wait and reconnect
with backoff (1 s doubling up to ``JOBS_REDIS_BACKOFF_MAX``, one log line per attempt) and resume by themselves;
SIGTERM ends them cleanly (a worker finishes the job in progress first: RQ's warm shutdown)."""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime

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


def _say(what: str, text: str) -> None:
    click.echo(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {what}: {text}", err=True)
    sys.stderr.flush()


class _Stop:
    """SIGTERM / SIGINT outside RQ's own loops (while waiting for Redis): stop cleanly, exit 0."""

    def __init__(self) -> None:
        self.requested = False
        self.worker = None  # the RQ worker about to run: told to stop if the signal comes before its own handlers

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        if self.worker is not None:
            self.worker._stop_requested = True  # its loop checks this before each dequeue

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    return (RedisConnectionError, RedisTimeout)


def wait_for_redis(connection, stop: _Stop, what: str) -> bool:
    """Ping until Redis answers (backoff 1 s → JOBS_REDIS_BACKOFF_MAX, a line per attempt). False if stopped."""
    cap = max(1.0, float(current_app.config.get("JOBS_REDIS_BACKOFF_MAX", 30)))
    delay, attempt = 1.0, 0
    while not stop.requested:
        try:
            connection.ping()
        except _redis_errors() as exc:
            attempt += 1
            _say(what, f"Redis unavailable ({exc}); attempt {attempt}, next in {delay:g} s")
            stop.sleep(delay)
            delay = min(cap, delay * 2)
            continue
        if attempt:
            _say(what, f"Redis is back after {attempt} failed attempt(s)")
        return True
    return False


@jobs_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process (no fork per job).")
def worker(queues: tuple[str, ...], burst: bool, simple: bool) -> None:
    """Serve QUEUES (default: notify index sweeps default). Run exactly one worker on the index queue."""
    from rq import SimpleWorker, Worker

    from workers.health import watch_rq_worker

    connection = _require_redis()
    names = list(queues) or list(QUEUES)
    cls = SimpleWorker if simple else Worker
    cap = max(1.0, float(current_app.config.get("JOBS_REDIS_BACKOFF_MAX", 30)))
    click.echo(f"Worker on {', '.join(names)} ({current_app.config['REDIS_URL']})")
    stop = _Stop()
    restarts = 0
    while True:
        stop.install()
        if not wait_for_redis(connection, stop, "worker"):
            _say("worker", "stopped while waiting for Redis")
            return
        rq_worker = cls(names, connection=connection)
        rq_worker.max_connection_wait_time = cap  # RQ's own reconnect backoff while listening
        watch_rq_worker(rq_worker, names)  # Heartbeat "worker:<host>:<pid>" for the health checks
        stop.worker = rq_worker
        try:
            rq_worker.work(burst=burst, with_scheduler=False)
            failed = False
        except _redis_errors() as exc:  # at start (registering) or at the end (unregistering)
            _say("worker", f"lost Redis ({exc})")
            failed = True
        finally:
            stop.worker = None
        if stop.requested or rq_worker._shutdown_requested_date is not None:
            return  # warm shutdown: the job in progress was finished
        if burst and not failed:
            return
        restarts += 1
        _say("worker", "the RQ loop ended without a shutdown request (Redis lost?): starting again")
        stop.install()
        stop.sleep(min(cap, float(restarts)))


@jobs_cli.command("scheduler")
def scheduler() -> None:
    """Run the periodic schedule (workers/cron.py) with RQ's CronScheduler. One per deployment.

    The loop is CronScheduler's (enqueue what is due, heartbeat, sleep until the next job) with Redis probed every
    few seconds while sleeping, so an outage is noticed at once; when Redis is back the schedule resumes where it was
    and the outbox relay runs immediately (``after_outage``: also the rows whose jobs were lost with Redis)."""
    from rq import Queue
    from rq.cron import CronScheduler

    from workers.health import beat_scheduler

    connection = _require_redis()
    cron = CronScheduler(connection=connection)
    cron.load_config_from_file("workers.cron")
    probe = min(5.0, max(1.0, float(current_app.config.get("JOBS_REDIS_BACKOFF_MAX", 30))))
    stop = _Stop()
    stop.install()
    registered = outage = False
    try:
        while not stop.requested:
            try:
                if not registered or outage:
                    if not wait_for_redis(connection, stop, "scheduler"):
                        break
                    cron.register_birth()
                    registered = True
                    if outage:
                        Queue("default", connection=connection).enqueue(
                            "workers.periodic.relay_outbox", after_outage=True, job_timeout=300, result_ttl=600
                        )
                        _say("scheduler", "Redis is back: enqueued the outbox relay")
                        outage = False
                if cron.enqueue_jobs():
                    cron.save()
                cron.heartbeat()
                beat_scheduler()  # Heartbeat "scheduler"; the health check runs here every 60 s (never raises)
            except _redis_errors() as exc:
                _say("scheduler", f"lost Redis ({exc})")
                outage = True
                continue
            end = time.monotonic() + cron.calculate_sleep_interval()
            while not stop.requested and time.monotonic() < end:
                stop.sleep(min(probe, max(0.0, end - time.monotonic())))
                try:
                    connection.ping()
                except _redis_errors() as exc:
                    _say("scheduler", f"lost Redis ({exc})")
                    outage = True
                    break
    finally:
        if registered:
            try:
                cron.register_death()
            except _redis_errors():
                pass
        _say("scheduler", "stopped")


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


@jobs_cli.command("drain-search-log")
def drain_search_log() -> None:
    """Move buffered KB search log entries into the database once (what the scheduler does every minute)."""
    from workers.search_log import search_log_drain

    stats = search_log_drain()
    click.echo(
        f"Added {stats['searches']} searches and {stats['clicks']} clicks; {stats['deferred']} clicks wait for their "
        f"search, {stats['dropped']} given up, {stats['unreadable']} unreadable lines."
    )
