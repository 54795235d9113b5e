"""Mail ingestion through IMAP: messages per second end to end, and peak memory for one huge message.

    .venv/bin/python bench/bench_mail_ingest.py [--messages 1000] [--database-url sqlite:////tmp/bench_mail.db]
        [--big-mb 50] [--seed 1]

Starts a private dovecot (``tests/mail/dovecot.py``, the one the mail tests use), builds a fresh database with the
migrations (a SQLite file is deleted first; a PostgreSQL database is wiped) and 30 organizations with 4 customers
each, and appends N realistic messages to an INBOX: about 62 % new tickets, 30 % replies to an earlier message
(In-Reply-To / References of a mail that became a ticket), 3 % with a PNG or PDF attachment, 3 % auto-replies
(ignored) and 2 % from unknown senders. Then it times ``poll_once`` — fetch, store raw, commit, process (parse,
thread, ticket change, outbox rows), commit, mark seen — until the mailbox has no unseen mail, printing progress,
and prints messages/s. Goal: ≥ 50 messages/s on SQLite.

Then one message of ``--big-mb`` MB (a base64 attachment) is appended and polled twice under ``tracemalloc``: with
the default limits (MAIL_MAX_MESSAGE_BYTES = MAIL_RAW_MAX = 30 MB: the poll fetches only the first 30 MB and
quarantines it as oversize), and with the limit raised above the message (fetched whole and processed, the
attachment stored). Peak traced Python memory and the process's peak RSS are printed for each.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

SUBJECTS = [
    "Bulk import rejects kWh",
    "Scope 2 totals differ from last quarter",
    "SAP connector stopped syncing",
    "Cannot export the CSRD datapoints",
    "SSO login loops back to the sign-in page",
    "IoT meter feed shows gaps",
    "Question about emission factor sets",
    "Dashboard slow for five years of data",
]
BODIES = [
    "Row 12 fails with 'unit kWh not recognised'. The same template worked last quarter.\n\nBest regards,\n{name}",
    "Since this morning the connector shows 'token expired'. We changed nothing on our side.\n\nThanks,\n{name}",
    "Our auditors need the figures by Friday. Could you check why the totals differ by 3 %?\n\n{name}\nESG team",
    "The export stops at 80 % and the browser shows a timeout. File size about 40 MB.\n\nKind regards,\n{name}",
]
REPLIES = [
    "Thanks, that worked for us.",
    "We still see the problem after the change, see the details below.",
    "Is there an update on this? Our auditors are waiting.",
    "Here is the file you asked for; the upload was at 09:40 CET.",
]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_app(url: str, instance: Path):
    from portal import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-mail-ingest-" + "x" * 40,
            "RATELIMIT_ENABLED": False,
            "INDEX_DIR": str(instance / "index"),
            "ATTACHMENT_DIR": str(instance / "attachments"),
            "JOBS_RELAY_ON_COMMIT": False,
            "JOBS_EMBEDDED_SCHEDULER": False,
            "MAIL_SERVER": None,
            "SUPPORT_ADDRESS": "support@support.test",
            "MAIL_FROM": "ESG Support <support@support.test>",
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


def seed_customers(rng: random.Random) -> list[tuple[str, str]]:
    from portal.extensions import db
    from portal.models import Organization, Role, User, utcnow
    from portal.services.catalog import ensure_default_categories

    ensure_default_categories()
    people = []
    for o in range(30):
        org = Organization(name=f"Bench Org {o}", email_domains=f"org{o}.example")
        db.session.add(org)
        for c in range(4):
            name = f"Customer {o}-{c}"
            email = f"c{c}@org{o}.example"
            db.session.add(
                User(
                    email=email,
                    name=name,
                    role=Role.customer,
                    password_hash="!",
                    organization=org,
                    email_verified_at=utcnow(),
                    specializations=[],
                )
            )
            people.append((email, name))
    db.session.commit()
    rng.shuffle(people)
    return people


def generate(n: int, rng: random.Random, people: list[tuple[str, str]]) -> tuple[list[bytes], dict[str, int]]:
    from tests.mail.messages import build, png_bytes

    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"0" * 20_000
    raws: list[bytes] = []
    filed: list[tuple[str, str, str]] = []  # (message id, sender, subject) of mail that becomes a ticket
    mix = {"new": 0, "reply": 0, "attachment": 0, "auto_reply": 0, "unknown": 0}
    for i in range(n):
        roll = rng.random()
        email, name = people[i % len(people)]
        message_id = f"<bench-{i}.{rng.randrange(10**9)}@mail.example>"
        if roll < 0.30 and filed:
            parent_id, parent_sender, parent_subject = rng.choice(filed)
            raws.append(
                build(
                    sender=parent_sender,
                    subject="Re: " + parent_subject,
                    body=rng.choice(REPLIES) + "\n\n> earlier text\n> quoted",
                    message_id=message_id,
                    in_reply_to=parent_id,
                    references=parent_id,
                )
            )
            mix["reply"] += 1
            continue
        if roll < 0.33:
            raws.append(
                build(
                    sender=email,
                    subject="Out of office: " + rng.choice(SUBJECTS),
                    body="I am out of the office until Monday.",
                    message_id=message_id,
                    headers={"Auto-Submitted": "auto-replied"},
                )
            )
            mix["auto_reply"] += 1
            continue
        subject = f"{rng.choice(SUBJECTS)} (#{i})"
        attachments = []
        if roll < 0.36:
            attachments = (
                [("screenshot.png", "image/png", png_bytes(32, 32))] if i % 2 else [("r.pdf", "application/pdf", pdf)]
            )
            mix["attachment"] += 1
        sender, sender_name = email, name
        if roll > 0.98:
            sender, sender_name = f"someone{i}@unknown.example", f"Someone {i}"
            mix["unknown"] += 1
        else:
            mix["new"] += 1
        raws.append(
            build(
                sender=sender,
                sender_name=sender_name,
                subject=subject,
                body=rng.choice(BODIES).format(name=sender_name),
                message_id=message_id,
                attachments=attachments,
            )
        )
        filed.append((message_id, sender, subject))
    return raws, mix


def time_parts(pipeline) -> dict[str, float]:
    """Wall time spent in the pipeline's two steps during the run (the module's functions wrapped for it)."""
    spent = {"pipeline.receive": 0.0, "pipeline.process": 0.0}

    def wrap(name: str):
        original = getattr(pipeline, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[f"pipeline.{name}"] += time.perf_counter() - started

        setattr(pipeline, name, timed)

    wrap("receive")
    wrap("process")
    return spent


def big_message(mb: int) -> bytes:
    from tests.mail.messages import build

    blob = os.urandom(mb * 1024 * 1024 * 3 // 4)  # base64 makes it 4/3 larger: about ``mb`` MB on the wire
    return build(
        sender="c0@org0.example",
        subject=f"Full export ({mb} MB)",
        body="The export is attached.",
        attachments=[("export.bin", "application/octet-stream", blob)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from portal.extensions import db
    from portal.models import Attachment, Ticket
    from portal.models.mail import InboundMessage
    from portal.services.mail import imap
    from tests.mail.dovecot import MailboxUser, start_dovecot

    work = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    url = args.database_url or f"sqlite:///{work / 'bench_mail.db'}"
    server = start_dovecot()
    try:
        app = build_app(url, work / "instance")
        with app.app_context():
            print(f"database {url}; dovecot on 127.0.0.1:{server.port}")
            fresh_database(url)
            rng = random.Random(args.seed)
            people = seed_customers(rng)
            raws, mix = generate(args.messages, rng, people)
            mailbox = MailboxUser(server, server.add_user("bench"))
            app.config.update(mailbox.config())

            started = time.perf_counter()
            mailbox.append_many(raws)
            append_s = time.perf_counter() - started
            size_mb = sum(map(len, raws)) / 1e6
            print(f"appended {len(raws)} messages ({size_mb:.1f} MB; mix {mix}) in {append_s:.1f} s")

            last = [time.perf_counter()]

            def progress(result: imap.PollResult, total: int) -> None:
                done = result.fetched + result.already_done
                now = time.perf_counter()
                if now - last[0] >= 1 or done == total:
                    last[0] = now
                    rate = done / (now - started)
                    print(f"  {done}/{total} messages, {rate:.0f} messages/s", flush=True)

            spent = time_parts(imap.pipeline)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = imap.poll_once(progress=progress)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            counts = result.counts()
            print(
                f"ingested {counts['fetched']} messages in {elapsed:.1f} s: {counts['fetched'] / elapsed:.0f} "
                f"messages/s end to end (processed {counts['processed']}, ignored {counts['ignored']}, "
                f"quarantined {counts['quarantined']}, errors {counts['errors']})"
            )
            print(
                f"  this process used {cpu:.1f} s of CPU "
                f"({counts['fetched'] / max(cpu, 1e-6):.0f} messages per CPU second; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs); "
                + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in spent.items())
                + f", the poll itself (IMAP, commits) {elapsed - sum(spent.values()):.1f} s"
            )
            if result.errors:
                print("  first errors:", result.errors[:3])
            db.session.rollback()
            tickets = db.session.scalar(select(func.count()).select_from(Ticket))
            files = db.session.scalar(select(func.count()).select_from(Attachment))
            rows = db.session.scalar(select(func.count()).select_from(InboundMessage))
            print(f"  {tickets} tickets, {rows} inbound rows, {files} attachments; unseen left {len(mailbox.unseen())}")
            print("  goal ≥ 50 messages/s:", "met" if counts["fetched"] / elapsed >= 50 else "NOT met")

            if args.big_mb:
                default_limit = app.config["MAIL_MAX_MESSAGE_BYTES"]
                for label, raised in (
                    ("default limits (oversize: partial fetch, quarantined)", False),
                    ("limit raised above it (fetched whole, processed)", True),
                ):
                    raw = big_message(args.big_mb)  # each with its own Message-ID
                    limit = len(raw) + 1024 * 1024 if raised else default_limit
                    print(f"big message: {len(raw) / 1e6:.1f} MB, {label}")
                    big_box = MailboxUser(server, server.add_user(f"big{int(raised)}"))
                    big_box.append(raw)
                    del raw
                    app.config.update(big_box.config())
                    app.config["MAIL_MAX_MESSAGE_BYTES"] = limit
                    app.config["MAIL_RAW_MAX"] = max(limit, 30 * 1024 * 1024)
                    rss_before = rss_mb()
                    tracemalloc.start()
                    started = time.perf_counter()
                    result = imap.poll_once()
                    elapsed = time.perf_counter() - started
                    _current, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    db.session.rollback()
                    row = db.session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()))
                    print(
                        f"  {label}: {elapsed:.1f} s, state {row.state.value} {row.reason or row.outcome}, "
                        f"raw kept {len(row.raw) / 1e6:.1f} MB; peak traced memory {peak / 1e6:.0f} MB, "
                        f"peak RSS {rss_mb():.0f} MB (before {rss_before:.0f} MB); errors {len(result.errors)}"
                    )
                    del row
                    db.session.expunge_all()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
