"""``flask --app wsgi sla sweep`` and ``flask --app wsgi roster handover`` (cron, systemd and the RQ scheduler call the
same functions: ``portal.services.sla_sweep.run_sweep`` and ``portal.services.handover.run_handover``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from portal.extensions import db
from portal.services.handover import run_handover
from portal.services.sla_sweep import run_sweep

sla_cli = AppGroup("sla", help="SLA clocks.")
roster_cli = AppGroup("roster", help="Shifts and hand-over.")


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-04-01T08:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@sla_cli.command("sweep")
@click.option("--now", help="Pretend it is this UTC instant (ISO 8601).")
def sla_sweep(now: str | None) -> None:
    """Record at-risk and breached tickets (once each), notify and apply the escalation rules."""
    stats = run_sweep(_instant(now))
    db.session.commit()
    click.echo("SLA sweep: " + ", ".join(f"{k} {v}" for k, v in stats.items()))


@roster_cli.command("handover")
@click.option("--now", help="Pretend it is this UTC instant (ISO 8601).")
def roster_handover(now: str | None) -> None:
    """Hand the outgoing shift's open critical/high tickets to the incoming shift and send the summary."""
    result = run_handover(_instant(now))
    db.session.commit()
    click.echo("Hand-over: " + json.dumps(result, sort_keys=True))
