"""The admins' inbound mail page at scale: /admin/mail with N stored messages (default 100k).

    .venv/bin/python bench/bench_mail_admin.py [--messages 100000] [--database-url sqlite:////tmp/bench_mail_admin.db]
        [--repeat 30] [--raw-kb 2] [--reuse]

Builds a fresh database with the migrations (a SQLite file is deleted first; a PostgreSQL database is wiped) and
inserts N inbound messages with SQLAlchemy Core (``--raw-kb`` KB of raw source each, so a query that loaded the raw
column would show), about 3 % quarantined, 85 % processed, 10 % ignored, 2 % discarded. Signed in as an admin
(the test client, in process), it times the list's first page, a deep keyset page (``before`` = the median id),
the quarantine tab, a reason filter and a message page; median, p95 and min in ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

STATES = [("processed", 85), ("ignored", 10), ("quarantined", 3), ("discarded", 2)]
REASONS = {"ignored": ["duplicate", "auto_reply", "bulk"], "quarantined": ["unknown_sender", "oversize", "error"]}


def build_app(url: str, instance: Path):
    from portal import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-mail-admin-" + "y" * 40,
            "RATELIMIT_ENABLED": False,
            "INDEX_DIR": str(instance / "index"),
            "JOBS_RELAY_ON_COMMIT": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "WTF_CSRF_ENABLED": False,
            "TWO_FACTOR_REQUIRED_ROLES": "",  # the bench signs in with a password only
        }
    )
    app.instance_path = str(instance)
    return app


def fresh_database(url: str) -> None:
    from flask_migrate import upgrade

    from portal.extensions import db

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(revision="heads")


def fill(n: int, raw_kb: int, rng: random.Random) -> None:
    from portal.extensions import db
    from portal.models import InboundMessage, utcnow

    weights = [w for _s, w in STATES]
    names = [s for s, _w in STATES]
    raw = b"Subject: x\r\n\r\n" + b"a" * (raw_kb * 1024)
    now = utcnow()
    batch: list[dict] = []
    started = time.monotonic()
    for i in range(1, n + 1):
        state = rng.choices(names, weights)[0]
        batch.append(
            {
                "source": "imap",
                "state": state,
                "reason": rng.choice(REASONS[state]) if state in REASONS else "",
                "detail": "",
                "outcome": "reply" if state == "processed" else "",
                "thread_method": "token" if state == "processed" else "",
                "thread_detail": "",
                "message_id": f"<bench-{i}@mail.example>",
                "dedupe_key": None,
                "from_address": f"user{i % 500}@org{i % 40}.example",
                "from_name": f"User {i % 500}",
                "to_addresses": "support@support.test",
                "subject": f"Bench message {i}",
                "size": len(raw),
                "raw": raw,
                "raw_truncated": False,
                "attempts": 1,
                "received_at": now,
            }
        )
        if len(batch) == 5000 or i == n:
            with db.engine.begin() as conn:
                conn.execute(insert(InboundMessage), batch)
            batch = []
            print(f"  inserted {i:,} / {n:,} ({time.monotonic() - started:.1f} s)", flush=True)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def time_get(client, url: str, repeat: int) -> tuple[float, float, float, int]:
    client.get(url)  # warm up
    times = []
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.data)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return statistics.median(times), p95, times[0], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_mail_admin.db")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--raw-kb", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="time the database built by an earlier run")
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bench-mail-admin-"))
    app = build_app(args.database_url, instance)
    with app.app_context():
        from portal.extensions import db
        from portal.models import Role, User, utcnow
        from portal.services.accounts import hash_password

        if args.reuse:
            args.messages = db.session.scalar(text("SELECT count(*) FROM inbound_messages"))
            print(f"Reusing {args.database_url} ({args.messages:,} inbound messages)", flush=True)
        else:
            print(f"Building {args.database_url} with {args.messages:,} inbound messages …", flush=True)
            fresh_database(args.database_url)
            fill(args.messages, args.raw_kb, random.Random(1))
        if not db.session.scalar(text("SELECT count(*) FROM users WHERE email = 'admin@bench.test'")):
            db.session.add(
                User(
                    email="admin@bench.test",
                    name="Bench Admin",
                    role=Role.admin,
                    password_hash=hash_password("bench-pass-2026-x"),
                    email_verified_at=utcnow(),
                    specializations=[],
                )
            )
        db.session.commit()

    client = app.test_client()
    signed_in = client.post("/login", data={"email": "admin@bench.test", "password": "bench-pass-2026-x"})
    assert signed_in.status_code == 302, signed_in.status_code
    middle = args.messages // 2
    with app.app_context():
        from sqlalchemy import select

        from portal.extensions import db
        from portal.models import InboundMessage, InboundState

        quarantined = db.session.scalar(
            select(InboundMessage.id).where(InboundMessage.state == InboundState.quarantined).limit(1)
        )
    pages = [
        ("list, first page", "/admin/mail/"),
        ("list, keyset page in the middle", f"/admin/mail/?before={middle}"),
        ("quarantine tab", "/admin/mail/?state=quarantined"),
        ("quarantine, one reason", "/admin/mail/?state=quarantined&reason=error"),
        ("all, one reason", "/admin/mail/?reason=bulk"),
        ("message page", f"/admin/mail/{quarantined}"),
    ]
    print(f"\n{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8} {'bytes':>8}")
    for label, url in pages:
        p50, p95, low, size = time_get(client, url, args.repeat)
        print(f"{label:36} {p50:8.1f} {p95:8.1f} {low:8.1f} {size:8d}", flush=True)


if __name__ == "__main__":
    main()
