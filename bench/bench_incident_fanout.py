"""Incident update fan-out: 1,000 linked tickets and 5,000 contacts.

    .venv/bin/python bench/bench_incident_fanout.py [--tickets 1000] [--contacts 5000]
        [--database-url sqlite:////tmp/bench_incident.db]

Builds a fresh database with the migrations (a SQLite file is deleted first; a PostgreSQL database is wiped), one
affected organization with N customers, M tickets filed by the first customers and linked to one declared outage,
and a manager. Times the update request (POST /ops/incidents/<id>/updates through the test client: it writes the
update, its event and outbox rows only), then the fan-out in the workers (the in-process runner, until no row is
due): the planner, the ticket-reply chunks (through the ticket service, with their own notification rows) and the
email chunks. Emails are written to the instance's mail folder (no SMTP server), so the check counts deliveries:
each linked ticket has exactly one reply, each contact that is not a requester exactly one incident email; then
every fan-out job is run again and the counts must not move.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402


def build_app(url: str, instance: Path):
    from portal import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-incident-fanout-" + "x" * 40,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "TWO_FACTOR_REQUIRED_ROLES": "",
            "INDEX_DIR": str(instance / "index"),
            "JOBS_RELAY_ON_COMMIT": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "MAIL_SERVER": None,
            "SLACK_WEBHOOK_URL": None,
        }
    )
    app.instance_path = str(instance)
    return app


def reset(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_incident.db")
    args = parser.parse_args()
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    reset(url)
    instance = Path(tempfile.mkdtemp(prefix="bench-incident-"))
    app = build_app(url, instance)

    from flask_migrate import upgrade

    from portal.extensions import db
    from portal.models import (
        EventKind,
        NotificationDelivery,
        Organization,
        OutboxMessage,
        OutboxStatus,
        Role,
        TicketEvent,
        User,
        utcnow,
    )
    from portal.services import incidents as service
    from portal.services import tickets as ticket_service
    from portal.services.accounts import hash_password
    from portal.services.catalog import ensure_default_categories
    from workers.inline import run_pending

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
        ensure_default_categories()
        org = Organization(name="Affected Corp", email_domains="affected.test")
        db.session.add(org)
        db.session.flush()
        now = utcnow()
        print(f"creating {args.contacts} contacts ...", flush=True)
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"contact{n}@affected.test",
                    "name": f"Contact {n}",
                    "password_hash": "x",
                    "role": Role.customer,
                    "organization_id": org.id,
                    "timezone": "UTC",
                    "specializations": [],
                    "email_verified_at": now,
                    "created_at": now,
                }
                for n in range(args.contacts)
            ],
        )
        manager = User(
            email="mia@support.test",
            name="Mia Manager",
            role=Role.manager,
            password_hash=hash_password("bench-password-123"),
            email_verified_at=now,
            specializations=[],
        )
        db.session.add(manager)
        db.session.commit()
        requesters = list(
            db.session.scalars(
                select(User).where(User.role == Role.customer).order_by(User.id).limit(args.tickets // 2)
            )
        )
        print(f"filing {args.tickets} tickets ...", flush=True)
        refs = []
        for n in range(args.tickets):
            ticket = ticket_service.create_ticket(
                requesters[n % len(requesters)],
                subject=f"Reports down {n}",
                description="Nothing loads.",
                category="data",
            )
            refs.append(ticket.id)
            if n % 250 == 249:
                db.session.commit()
                print(f"  {n + 1}", flush=True)
        db.session.commit()
        incident = service.declare(
            manager,
            service.Declaration(
                kind="outage",
                severity="critical",
                title="Reporting outage",
                all_organizations=False,
                organization_ids=[org.id],
            ),
        )
        service.link_tickets(manager, incident, [str(i) for i in refs])
        db.session.commit()
        print("running the declaration's jobs ...", flush=True)
        while run_pending():
            pass
        incident_id, version, manager_email = incident.id, incident.version, manager.email

    client = app.test_client()
    client.post("/login", data={"email": manager_email, "password": "bench-password-123"})
    started = time.perf_counter()
    response = client.post(
        f"/ops/incidents/{incident_id}/updates",
        data={"body": "We are failing over the reporting database.", "state": "identified", "version": version},
    )
    request_seconds = time.perf_counter() - started
    assert response.status_code in (200, 303), response.status_code
    if "/ops/incidents/" not in response.headers.get("Location", "/ops/incidents/"):
        raise SystemExit(f"the update request was refused: {response.status_code} {response.headers.get('Location')}")
    followed = client.get(response.headers.get("Location", f"/ops/incidents/{incident_id}"))
    if "flash-error" in followed.text:
        raise SystemExit("the update request was refused: " + followed.text.split("flash-error", 1)[1][:300])
    print(f"update request: {request_seconds * 1000:.1f} ms (status {response.status_code})", flush=True)

    with app.app_context():
        started = time.perf_counter()
        rounds = 0
        while True:
            round_started = time.perf_counter()
            done = run_pending(limit=500)
            rounds += 1
            kinds = dict(
                db.session.execute(
                    select(OutboxMessage.kind, func.count())
                    .where(OutboxMessage.status == OutboxStatus.pending)
                    .group_by(OutboxMessage.kind)
                ).all()
            )
            print(
                f"  round {rounds}: {done} jobs in {time.perf_counter() - round_started:.1f} s, pending now {kinds}",
                flush=True,
            )
            if not done:
                break
        fanout_seconds = time.perf_counter() - started

        def counts():
            replies = dict(
                db.session.execute(
                    select(TicketEvent.ticket_id, func.count())
                    .where(TicketEvent.kind == EventKind.public_reply, TicketEvent.author_id == manager.id)
                    .group_by(TicketEvent.ticket_id)
                ).all()
            )
            emails = db.session.execute(
                select(NotificationDelivery.recipient, func.count())
                .join(OutboxMessage, OutboxMessage.id == NotificationDelivery.outbox_id)
                .where(OutboxMessage.kind == "incident.emails", NotificationDelivery.state == "sent")
                .group_by(NotificationDelivery.recipient)
            ).all()
            return replies, dict(emails)

        manager = db.session.scalar(select(User).where(User.email == manager_email))
        replies, emails = counts()
        expected_emails = args.contacts - len(requesters)
        print(f"fan-out in the workers: {fanout_seconds:.1f} s")
        print(f"  ticket replies: {len(replies)} tickets, max {max(replies.values())} per ticket")
        print(
            f"  incident emails: {len(emails)} recipients (expected {expected_emails}), max {max(emails.values())} each"
        )
        assert len(replies) == args.tickets and set(replies.values()) == {1}
        assert len(emails) == expected_emails and set(emails.values()) == {1}

        print("running every fan-out job again ...", flush=True)
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind.in_(["incident.update", "incident.tickets", "incident.emails"]))
            .values(status=OutboxStatus.pending, attempts=0, available_at=utcnow())
        )
        db.session.commit()
        started = time.perf_counter()
        while run_pending(limit=500):
            pass
        again = counts()
        print(f"  rerun took {time.perf_counter() - started:.1f} s; counts unchanged: {again == (replies, emails)}")
        assert again == (replies, emails)
    shutil.rmtree(instance, ignore_errors=True)
    print("exactly once: OK")


if __name__ == "__main__":
    main()
