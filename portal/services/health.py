"""The portal's own health checks, their recorded verdicts and the alerts when something stops or recovers.

Each check answers ``CheckResult(name, ok, detail, value)``; every one is cheap (a ping, an indexed MIN over the
outbox's ``(status, available_at)`` index, the small heartbeats table), so ``/readyz`` can run them all on every
probe. Only the database and Redis (when configured) are *required*: a web instance is ready when it can reach
them; a stopped worker or a silent scheduler is reported (and alerted) but does not take the web tier out of the
load balancer, which would not bring the worker back.

The periodic ``health_check`` records each verdict in ``HealthCheck``. A change of verdict is announced only once
it has been seen at two consecutive checks (so a check that flaps within one interval sends nothing), and then
exactly once: ``health.alert`` with a dedupe key per check and failure instant, ``health.recovered`` once the
same failure is over.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow
from portal.models.monitoring import HealthCheck, Heartbeat
from portal.services import heartbeats
from portal.services.outbox import QUEUES, emit

# Checks whose failure is announced to the admins (email + Slack), in the order the page lists them.
ALERTED = ("redis", "workers", "scheduler", "outbox_lag", "index_lag", "mail_poll")
REQUIRED = ("database", "redis")
LABELS = {
    "database": "Database",
    "redis": "Redis",
    "queues": "Job queues",
    "workers": "Workers",
    "scheduler": "Scheduler",
    "outbox_lag": "Outbox lag",
    "outbox_failed": "Failed jobs",
    "index_lag": "Search index",
    "mail_poll": "Mail ingestion",
}
UNSTATUSED = (OutboxStatus.pending, OutboxStatus.enqueued)


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    value: Any = None
    required: bool = False
    skipped: bool = False  # not applicable here (e.g. Redis without REDIS_URL)
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    @property
    def state(self) -> str:
        if self.skipped:
            return "not used"
        return "OK" if self.ok else "Failing"

    def as_json(self) -> dict:
        data = asdict(self)
        data.pop("extra", None)
        data.pop("name", None)
        return data


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _seconds(value: float | None) -> str:
    if value is None:
        return "never"
    value = int(value)
    if value < 120:
        return f"{value} s"
    if value < 7200:
        return f"{value // 60} min"
    return f"{value // 3600} h {value % 3600 // 60} min"


# --------------------------------------------------------------------------- individual checks


def check_database() -> CheckResult:
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # reporting is the point
        db.session.rollback()
        return CheckResult("database", False, f"unavailable ({exc.__class__.__name__})", None, required=True)
    ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult("database", True, f"answered in {ms} ms ({db.engine.dialect.name})", ms, required=True)


def _redis():
    from redis import Redis

    url = current_app.config["REDIS_URL"]
    cache = current_app.extensions.setdefault("health_redis", {})
    if url not in cache:
        cache[url] = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    return cache[url]


def check_redis() -> CheckResult:
    if not current_app.config.get("REDIS_URL"):
        return CheckResult("redis", True, "not configured (jobs run in-process)", None, required=True, skipped=True)
    started = time.perf_counter()
    try:
        _redis().ping()
    except Exception as exc:
        return CheckResult("redis", False, f"unavailable ({exc.__class__.__name__})", None, required=True)
    ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult("redis", True, f"answered in {ms} ms", ms, required=True)


def queue_depths(now: datetime, redis_ok: bool = True) -> dict[str, dict[str, float | int | None]]:
    """Per queue: jobs waiting and the oldest one's age in seconds. RQ's queues with Redis, else the outbox rows
    handed to the in-process runner (pending or enqueued and due)."""
    depths: dict[str, dict[str, float | int | None]] = {q: {"depth": 0, "oldest_seconds": None} for q in QUEUES}
    if current_app.config.get("REDIS_URL"):
        if not redis_ok:
            return depths
        from rq import Queue
        from rq.job import Job

        connection = _redis()
        for name in QUEUES:
            queue = Queue(name, connection=connection)
            depth = queue.count
            oldest = None
            if depth:
                first = queue.get_job_ids(0, 1)
                job = Job.fetch(first[0], connection=connection) if first else None
                if job is not None and job.enqueued_at is not None:
                    oldest = _age(now, job.enqueued_at.replace(tzinfo=now.tzinfo))
            depths[name] = {"depth": depth, "oldest_seconds": oldest}
        return depths
    rows = db.session.execute(
        select(OutboxMessage.queue, func.count(OutboxMessage.id), func.min(OutboxMessage.available_at))
        .where(OutboxMessage.status.in_(UNSTATUSED), OutboxMessage.available_at <= now)
        .group_by(OutboxMessage.queue)
    )
    for name, count, oldest in rows:
        depths[name] = {"depth": count, "oldest_seconds": _age(now, oldest)}
    return depths


def check_queues(now: datetime, redis_ok: bool = True) -> CheckResult:
    try:
        depths = queue_depths(now, redis_ok)
    except Exception as exc:
        return CheckResult("queues", False, f"could not be read ({exc.__class__.__name__})", None)
    limit = current_app.config["HEALTH_OUTBOX_LAG_SECONDS"]
    slow = [q for q, d in depths.items() if d["oldest_seconds"] is not None and d["oldest_seconds"] > limit]
    detail = ", ".join(
        f"{q}: {d['depth']}" + (f" (oldest {_seconds(d['oldest_seconds'])})" if d["depth"] else "")
        for q, d in depths.items()
    )
    if slow:
        detail = f"waiting longer than {_seconds(limit)} on {', '.join(slow)}; " + detail
    return CheckResult("queues", not slow, detail, depths)


def _embedded_runner_alive() -> bool:
    """This process runs the in-process runner thread (``workers.embedded``, thread name ``outbox-runner``)."""
    return any(t.name == "outbox-runner" and t.is_alive() for t in threading.enumerate())


def check_workers(now: datetime, beats: list[Heartbeat]) -> CheckResult:
    stale_after = current_app.config["HEALTH_HEARTBEAT_STALE_SECONDS"]
    workers = [b for b in beats if b.kind == "worker"]
    fresh = [b for b in workers if _age(now, b.last_seen) <= stale_after]
    ages = {b.name: _age(now, b.last_seen) for b in workers}
    if not current_app.config.get("REDIS_URL"):
        own = _embedded_runner_alive()
        if own or fresh:
            count = len(fresh) + (1 if own and not any(b.name == heartbeats.worker_name() for b in fresh) else 0)
            return CheckResult("workers", True, f"{count} in-process runner(s) alive", count, extra={"ages": ages})
    if not fresh:
        last = max(workers, key=lambda b: b.last_seen, default=None)
        detail = (
            f"stopped: no worker heartbeat for {_seconds(_age(now, last.last_seen))} (last: {last.name})"
            if last is not None
            else "stopped: no worker has ever reported"
        )
        return CheckResult("workers", False, detail, 0, extra={"ages": ages})
    served = {q.strip() for b in fresh for q in (b.detail or "").replace("embedded:", "").split(",") if q.strip()}
    missing = [q for q in QUEUES if q not in served]
    if missing and current_app.config.get("REDIS_URL"):
        return CheckResult(
            "workers",
            False,
            f"{len(fresh)} running, but none serves {', '.join(missing)}",
            len(fresh),
            extra={"ages": ages},
        )
    return CheckResult("workers", True, f"{len(fresh)} running", len(fresh), extra={"ages": ages})


def scheduler_expected() -> bool:
    return bool(current_app.config.get("REDIS_URL") or current_app.config.get("JOBS_EMBEDDED_SCHEDULER"))


def check_scheduler(now: datetime, beats: list[Heartbeat]) -> CheckResult:
    beat = next((b for b in beats if b.name == "scheduler"), None)
    age = _age(now, beat.last_seen) if beat is not None else None
    if not scheduler_expected():
        return CheckResult("scheduler", True, "not used here (JOBS_EMBEDDED_SCHEDULER off)", age, skipped=True)
    stale_after = current_app.config["HEALTH_HEARTBEAT_STALE_SECONDS"]
    if age is None:
        return CheckResult("scheduler", False, "silent: the scheduler has never run", None)
    if age > stale_after:
        return CheckResult("scheduler", False, f"silent: last ran {_seconds(age)} ago", age)
    return CheckResult("scheduler", True, f"last ran {_seconds(age)} ago", age)


def _oldest_due(now: datetime, *conditions) -> datetime | None:
    """The oldest ``available_at`` among pending and enqueued rows that are due: one MIN per status, each the
    first entry of ``ix_outbox_messages_status_available_at``."""
    found = []
    for status in UNSTATUSED:
        found.append(
            db.session.scalar(
                select(func.min(OutboxMessage.available_at)).where(
                    OutboxMessage.status == status, OutboxMessage.available_at <= now, *conditions
                )
            )
        )
    found = [f for f in found if f is not None]
    return min(found) if found else None


def outbox_lag_seconds(now: datetime) -> float:
    return _age(now, _oldest_due(now)) or 0.0


def failed_count() -> int:
    return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.failed))


def check_outbox_lag(now: datetime) -> CheckResult:
    lag = outbox_lag_seconds(now)
    limit = current_app.config["HEALTH_OUTBOX_LAG_SECONDS"]
    if lag > limit:
        return CheckResult(
            "outbox_lag", False, f"the oldest due job has waited {_seconds(lag)} (limit {_seconds(limit)})", lag
        )
    return CheckResult("outbox_lag", True, f"oldest due job waiting {_seconds(lag)}" if lag else "nothing waiting", lag)


def check_outbox_failed() -> CheckResult:
    failed = failed_count()
    if failed:
        return CheckResult(
            "outbox_failed", False, f"{failed} job(s) failed for good: see Admin › Background jobs", failed
        )
    return CheckResult("outbox_failed", True, "no failed jobs", 0)


def index_lag_seconds(now: datetime) -> float:
    """How long the oldest ticket change not yet in the search index has waited: the oldest due ``index.ticket``
    row still pending or enqueued (each change to a ticket writes one; it is done once the index has it)."""
    return _age(now, _oldest_due(now, OutboxMessage.kind == "index.ticket")) or 0.0


def check_index_lag(now: datetime) -> CheckResult:
    lag = index_lag_seconds(now)
    limit = current_app.config["HEALTH_INDEX_LAG_SECONDS"]
    failed = db.session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status == OutboxStatus.failed, OutboxMessage.kind == "index.ticket"
        )
    )
    if lag > limit:
        return CheckResult(
            "index_lag", False, f"ticket changes wait {_seconds(lag)} to be indexed (limit {_seconds(limit)})", lag
        )
    detail = f"oldest unindexed change {_seconds(lag)} old" if lag else "up to date"
    if failed:
        detail += f"; {failed} index job(s) failed (search may miss those tickets)"
    return CheckResult("index_lag", True, detail, lag)


def mail_stale_seconds() -> int:
    return max(
        int(current_app.config["HEALTH_HEARTBEAT_STALE_SECONDS"]), 3 * int(current_app.config["IMAP_POLL_SECONDS"])
    )


def check_mail_poll(now: datetime, beats: list[Heartbeat]) -> CheckResult:
    beat = next((b for b in beats if b.name == "mail_poll"), None)
    age = _age(now, beat.last_seen) if beat is not None else None
    if not current_app.config.get("IMAP_HOST"):
        return CheckResult("mail_poll", True, "no mailbox configured (IMAP_HOST unset)", age, skipped=True)
    limit = mail_stale_seconds()
    if age is None:
        return CheckResult("mail_poll", False, "stale: the mailbox has never been polled successfully", None)
    if age > limit:
        return CheckResult("mail_poll", False, f"stale: last successful poll {_seconds(age)} ago", age)
    return CheckResult("mail_poll", True, f"last successful poll {_seconds(age)} ago", age)


# --------------------------------------------------------------------------- all of them


def run_checks(now: datetime | None = None) -> list[CheckResult]:
    """Every check, in page order. When the database does not answer, the checks that read it are reported as
    not run (one failure, not seven timeouts)."""
    now = now or utcnow()
    database = check_database()
    redis = check_redis()
    results = [database, redis]
    if not database.ok:
        results.append(check_queues(now, redis.ok) if current_app.config.get("REDIS_URL") else _not_run("queues"))
        results += [
            _not_run(n) for n in ("workers", "scheduler", "outbox_lag", "outbox_failed", "index_lag", "mail_poll")
        ]
        return results
    try:
        beats = heartbeats.all_heartbeats()
        results += [
            check_queues(now, redis.ok),
            check_workers(now, beats),
            check_scheduler(now, beats),
            check_outbox_lag(now),
            check_outbox_failed(),
            check_index_lag(now),
            check_mail_poll(now, beats),
        ]
    except Exception as exc:  # the database went away between the checks
        db.session.rollback()
        seen = {r.name for r in results}
        results += [_not_run(n, exc) for n in LABELS if n not in seen]
    return results


def _not_run(name: str, exc: Exception | None = None) -> CheckResult:
    reason = f"not run ({exc.__class__.__name__})" if exc else "not run: the database is unavailable"
    return CheckResult(name, False, reason, None)


def readiness(now: datetime | None = None) -> tuple[bool, dict]:
    """(ready, body) for ``/readyz``: ready when every required check passes; the others are reported."""
    results = run_checks(now)
    ready = all(r.ok for r in results if r.required)
    return ready, {
        "status": "ok" if ready else "fail",
        "checks": {r.name: r.as_json() for r in results},
        "failing": [r.name for r in results if not r.ok and not r.skipped],
    }


# --------------------------------------------------------------------------- the periodic check and its alerts


def record(results: list[CheckResult], now: datetime) -> dict[str, str]:
    """Store each verdict and emit the alert / recovery outbox rows that are due. Returns {check: "alert" |
    "recovered"} for what was emitted. The caller commits."""
    rows = {r.name: r for r in db.session.scalars(select(HealthCheck))}
    emitted: dict[str, str] = {}
    for result in results:
        if result.skipped and result.name not in rows:
            continue
        row = rows.get(result.name)
        if row is None:
            row = HealthCheck(name=result.name, ok=True, detail="", since=now, checked_at=now)
            db.session.add(row)
            rows[result.name] = row
        ok = result.ok or result.skipped
        changed = ok != row.ok
        row.detail, row.checked_at = result.detail[:2000], now
        if changed:
            row.ok, row.since = ok, now
            continue  # a change is announced when the next check confirms it: flapping sends nothing
        if result.name not in ALERTED:
            continue
        # announced: alerted_at set and recovered_at cleared; its recovery: recovered_at set (no clock comparisons,
        # so a failure is announced once until its recovery is, and a recovery once per announced failure)
        if not ok and (row.alerted_at is None or row.recovered_at is not None):
            emit(
                "health.alert",
                _payload(result, row),
                dedupe_key=f"health:{result.name}:fail:{row.since.isoformat()}",
            )
            row.alerted_at, row.recovered_at = now, None
            emitted[result.name] = "alert"
        elif ok and row.alerted_at is not None and row.recovered_at is None:
            emit(
                "health.recovered",
                _payload(result, row),
                dedupe_key=f"health:{result.name}:recovered:{row.alerted_at.isoformat()}",
            )
            row.recovered_at = now
            emitted[result.name] = "recovered"
    return emitted


def _payload(result: CheckResult, row: HealthCheck) -> dict:
    return {
        "check": result.name,
        "label": result.label,
        "detail": result.detail,
        "since": row.since.isoformat(),
        "alerted_at": row.alerted_at.isoformat() if row.alerted_at else None,
    }


def run_health_check(now: datetime | None = None) -> dict[str, str]:
    """The periodic job: run every check, record the verdicts, announce what stopped or recovered. Commits."""
    now = now or utcnow()
    results = run_checks(now)
    if not next(r for r in results if r.name == "database").ok:
        return {}  # nothing can be recorded; the load balancer's /readyz and the log say so
    heartbeats.prune(now)
    try:
        emitted = record(results, now)
        db.session.commit()
    except IntegrityError:  # two checkers created the same row at once: the next run records it
        db.session.rollback()
        return {}
    return emitted


def recorded() -> dict[str, HealthCheck]:
    return {row.name: row for row in db.session.scalars(select(HealthCheck))}
