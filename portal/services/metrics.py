"""Prometheus metrics: request latency (a histogram fed by the health blueprint's request hooks) and the desk's
state read at scrape time by a custom collector (tickets by status and priority, SLA at risk / breached, queue
depths, outbox lag and failures, heartbeat ages, index lag).

Scrape-time reads stay cheap on a large desk: the ticket counts are one ``GROUP BY status, priority`` that the
covering index ``ix_tickets_priority_status_id`` answers without reading table rows; at-risk tickets come from the
live dashboard's partial-index probes; breached-and-open reads only open tickets (``ix_tickets_open_id``); the
outbox figures are MINs on its ``(status, available_at)`` index.

Under gunicorn with several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, wiped at each
start) before the app is imported: every process then writes its histogram samples there and a scrape, answered by
any one process, adds them up (``prometheus_client.multiprocess``). The collector's gauges are read from the
database, so they are the same whichever process answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import current_app
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import bindparam, func, or_, select

from portal.extensions import db
from portal.models import OPEN_STATUSES, Ticket, utcnow
from portal.services import health, heartbeats, live_dashboard

# Request latency in seconds, by Flask endpoint (never the raw path: one series per route) and method.
_REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "portal_request_duration_seconds",
    "Time to answer a request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=_REQUESTS,
)


def observe_request(endpoint: str | None, method: str, seconds: float) -> None:
    REQUEST_LATENCY.labels(endpoint=endpoint or "unmatched", method=method).observe(seconds)


def ticket_counts() -> dict[tuple[str, str], int]:
    """Tickets by (status, priority): one grouped query over a covering index."""
    rows = db.session.execute(
        select(Ticket.status, Ticket.priority, func.count()).group_by(Ticket.status, Ticket.priority)
    )
    return {(status.value, priority.value): n for status, priority, n in rows}


def breached_open() -> int:
    """Open tickets with a breached target (recorded by the SLA sweep): still to be dealt with."""
    values = [s.value for s in OPEN_STATUSES]
    is_open = Ticket.status.in_(bindparam("open_statuses", values, expanding=True, literal_execute=True))
    return db.session.scalar(
        select(func.count(Ticket.id)).where(
            is_open, or_(Ticket.first_response_breached_at.is_not(None), Ticket.resolution_breached_at.is_not(None))
        )
    )


class PortalCollector(Collector):
    """Reads the desk's state when Prometheus scrapes (inside the scrape request's application context)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        tickets = GaugeMetricFamily("portal_tickets", "Tickets by status and priority.", labels=["status", "priority"])
        for (status, priority), n in sorted(ticket_counts().items()):
            tickets.add_metric([status, priority], n)
        yield tickets

        at_risk_count, _by_target, _rows = live_dashboard.at_risk(now, shown=0)
        yield GaugeMetricFamily(
            "portal_sla_at_risk_tickets", "Open tickets with an SLA target at risk now.", at_risk_count
        )
        yield GaugeMetricFamily(
            "portal_sla_breached_open_tickets", "Open tickets with a breached SLA target.", breached_open()
        )

        redis = health.check_redis()
        depth = GaugeMetricFamily("portal_queue_depth", "Jobs waiting, by queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "portal_queue_oldest_job_age_seconds", "Age of the oldest waiting job, by queue.", labels=["queue"]
        )
        for queue, figures in health.queue_depths(now, redis.ok).items():
            depth.add_metric([queue], figures["depth"] or 0)
            oldest.add_metric([queue], figures["oldest_seconds"] or 0)
        yield depth
        yield oldest
        if not redis.skipped:
            yield GaugeMetricFamily("portal_redis_up", "Whether Redis answers a ping.", 1 if redis.ok else 0)

        yield GaugeMetricFamily(
            "portal_outbox_lag_seconds",
            "Age of the oldest due outbox row not yet done.",
            health.outbox_lag_seconds(now),
        )
        yield GaugeMetricFamily("portal_outbox_failed", "Outbox rows that failed for good.", health.failed_count())
        yield GaugeMetricFamily(
            "portal_index_lag_seconds",
            "Age of the oldest ticket change not yet in the search index.",
            health.index_lag_seconds(now),
        )

        ages = GaugeMetricFamily(
            "portal_heartbeat_age_seconds",
            "Seconds since each worker, the scheduler and the mailbox poll last reported.",
            labels=["name", "kind"],
        )
        stale_after = current_app.config["HEALTH_HEARTBEAT_STALE_SECONDS"]
        for beat in heartbeats.all_heartbeats():
            age = max(0.0, (now - beat.last_seen).total_seconds())
            if beat.kind == "worker" and age > 10 * stale_after:
                continue  # a worker long gone (its row is pruned within a day)
            ages.add_metric([beat.name, beat.kind], age)
        yield ages

        verdicts = GaugeMetricFamily(
            "portal_health_check_ok", "The last recorded verdict of each periodic health check.", labels=["check"]
        )
        for name, row in sorted(health.recorded().items()):
            verdicts.add_metric([name], 1 if row.ok else 0)
        yield verdicts


def exposition() -> bytes:
    """The text exposition for one scrape: the request histogram (all processes' in multiprocess mode) and the
    collector's gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_RequestsOnly())
    registry.register(PortalCollector())
    return generate_latest(registry)


class _RequestsOnly(Collector):
    def collect(self):
        return _REQUESTS.collect()
