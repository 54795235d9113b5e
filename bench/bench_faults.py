"""Notifications under faults: workers SIGKILLed mid-send, and Redis stopped for a while.

    .venv/bin/python bench/bench_faults.py [--replies 200] [--kills 20] [--outage 30] [--outage-replies 50]

Builds a fresh SQLite database in a temporary directory (migrations, the demo team, one customer per reply), starts a
private redis-server and an aiosmtpd SMTP server, and runs real ``flask --app wsgi jobs worker`` / ``jobs scheduler``
processes. DELIVERY_UNCERTAIN_AFTER is 1 s here (300 s in production) so retries come quickly.

1. ``--replies`` agent replies (one email each) while the worker is SIGKILLed ``--kills`` times mid-send: half of the
   kills when the SMTP server holds a message right after DATA (received, never confirmed: the retry is a duplicate
   with the same Message-ID), half when it holds a RCPT (nothing received yet). The relay runs every 0.5 s, as the
   scheduler would. Prints emails lost, duplicated, duplicates cut inside the SMTP dialogue, duplicates with a
   different Message-ID (must be 0) and the time until every row is done.
2. Redis stopped for ``--outage`` seconds while a worker and the scheduler run (JOBS_REDIS_BACKOFF_MAX 30 s, the
   default), ``--outage-replies`` replies committed meanwhile (rows stay pending). Prints whether both processes
   survived, the recovery time after Redis returns (until the last email arrives) and emails delivered once.
Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.mkdtemp(prefix="bench-faults-"))
os.environ["PORTAL_INSTANCE_DIR"] = str(TMP / "instance")  # before the portal reads its settings
sys.path.insert(0, str(ROOT))


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Redis:
    def __init__(self):
        self.port, self.proc = free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=TMP,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        assert wait_for(ready, 10), "redis-server did not start"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Mailbox:
    """The SMTP server's handler: keeps every message; ``stall_on`` {n-th RCPT: "rcpt" | "data"} holds a send there."""

    def __init__(self):
        self.messages: list = []
        self.stall_on: dict[int, str] = {}
        self.rcpts = 0
        self.cut: list[str] = []
        self.stalled = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts += 1
        envelope.rcpt_tos.append(address)
        session.rcpt_number = self.rcpts
        if self.stall_on.get(self.rcpts) == "rcpt":
            self.stalled.set()
            await asyncio.sleep(60)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((message["To"], message["Message-ID"]))
        if self.stall_on.get(getattr(session, "rcpt_number", 0)) == "data":
            self.cut.append(message["Message-ID"])
            self.stalled.set()
            await asyncio.sleep(60)
        return "250 OK"


def jobs_process(env: dict, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--outage-replies", type=int, default=50)
    args = parser.parse_args(argv)

    from aiosmtpd.controller import Controller
    from flask_migrate import upgrade
    from sqlalchemy import func, select, update

    from portal import create_app
    from portal.config import TestConfig
    from portal.demo import seed
    from portal.extensions import db
    from portal.models import Organization, OutboxMessage, OutboxStatus, Role, User, utcnow
    from portal.services import tickets as ticket_service
    from workers.relay import relay_due

    redis = Redis()
    redis.start()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    database = f"sqlite:///{TMP / 'bench.db'}"

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = database
        INDEX_DIR = str(TMP / "index")
        JOBS_RELAY_ON_COMMIT = True
        REDIS_URL = redis.url
        MAIL_SERVER, MAIL_PORT, MAIL_TIMEOUT = "127.0.0.1", smtp.port, 30.0
        MAIL_FROM = "ESG Support <support@support.test>"
        DELIVERY_UNCERTAIN_AFTER = 1.0

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database,
        INDEX_DIR=BenchConfig.INDEX_DIR,
        REDIS_URL=redis.url,
        PORTAL_ENV="testing",
        SECRET_KEY="bench-faults-key",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
        MAIL_FROM=BenchConfig.MAIL_FROM,
        RATELIMIT_STORAGE_URI="memory://",
        DELIVERY_UNCERTAIN_AFTER="1",
        JOBS_REDIS_BACKOFF_MAX="30",
    )
    app = create_app(BenchConfig)
    procs: list[subprocess.Popen] = []
    try:
        with app.app_context():
            progress(f"building the database in {TMP}")
            app.config["JOBS_RELAY_ON_COMMIT"] = False  # the set-up's own notifications are not part of the figures
            upgrade(revision="heads")
            seed(echo=lambda *_: None)
            db.session.commit()
            agent = db.session.scalar(select(User).where(User.role == Role.agent).order_by(User.id))
            org = db.session.scalar(select(Organization).order_by(Organization.id))
            total = args.replies + args.outage_replies
            customers = [
                User(
                    email=f"bench{i}@example.test",
                    name=f"Bench customer {i}",
                    role=Role.customer,
                    password_hash="!",
                    organization=org,
                    email_verified_at=utcnow(),
                )
                for i in range(total)
            ]
            db.session.add_all(customers)
            db.session.commit()
            tickets = [
                ticket_service.create_ticket(c, subject=f"Export {i} fails", description="The export stops.")
                for i, c in enumerate(customers)
            ]
            db.session.commit()
            ticket_ids = [t.id for t in tickets]
            agent_id = agent.id
            db.session.execute(update(OutboxMessage).values(status=OutboxStatus.done))
            first_row = (db.session.scalar(select(func.max(OutboxMessage.id))) or 0) + 1
            db.session.commit()
            app.config["JOBS_RELAY_ON_COMMIT"] = True

            def reply(ids) -> None:
                from portal.models import Ticket

                staff = db.session.get(User, agent_id)
                for ticket_id in ids:
                    ticket = db.session.get(Ticket, ticket_id)
                    ticket_service.reply_to_ticket(staff, ticket, "We fixed the exporter; please try again.")
                    db.session.commit()  # handed to Redis right after the commit

            def done_count() -> int:
                db.session.rollback()
                return db.session.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        OutboxMessage.id >= first_row, OutboxMessage.status == OutboxStatus.done
                    )
                )

            # ---------------------------------------------------------------- 1. kills mid-send
            n, kills = args.replies, args.kills
            step = max(2, n // (kills + 1))
            mailbox.stall_on = {step * (k + 1): ("data" if k % 2 == 0 else "rcpt") for k in range(kills)}
            progress(f"part 1: {n} replies, worker SIGKILLed {kills} times mid-send")
            reply(ticket_ids[:n])
            rows = db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.id >= first_row))
            relaying = threading.Event()

            def relay_loop() -> None:
                with app.app_context():
                    while not relaying.is_set():
                        try:
                            relay_due()
                            db.session.commit()
                        except Exception as exc:  # a busy database: next round
                            progress(f"relay: {exc.__class__.__name__}")
                            db.session.rollback()
                        relaying.wait(0.5)

            started = time.monotonic()
            relay_thread = threading.Thread(target=relay_loop, daemon=True)
            relay_thread.start()
            log1 = TMP / "worker-kills.log"
            worker = jobs_process(env, log1, "worker")
            done_kills = 0
            for k in range(kills):
                if not mailbox.stalled.wait(60):
                    progress("no send reached the planned stall: stopping the kills early")
                    break
                mailbox.stalled.clear()
                kill(worker)
                done_kills += 1
                progress(f"kill {k + 1}/{kills} ({mailbox.stall_on[step * (k + 1)]}); rows done {done_count()}/{rows}")
                worker = jobs_process(env, log1, "worker")
            finished = wait_for(lambda: done_count() >= rows, timeout=120, interval=0.5)
            elapsed = time.monotonic() - started
            relaying.set()
            relay_thread.join()
            kill(worker)

            per_mid = Counter(mid for _to, mid in mailbox.messages)
            per_to = {to: {mid for t, mid in mailbox.messages if t == to} for to, _ in mailbox.messages}
            addresses = {c.email for c in customers[:n]}
            replied = {to for to, mid in mailbox.messages if mid.startswith("<notify-ticket_reply.")}
            lost = len(addresses - replied)
            duplicated = sum(count - 1 for count in per_mid.values() if count > 1)
            dup_cut = sum(per_mid[mid] - 1 for mid in set(mailbox.cut) if per_mid[mid] > 1)
            different = sum(1 for mids in per_to.values() if len(mids) > 1)
            print(
                f"1. {n} replies, worker SIGKILLed {done_kills} times mid-send "
                f"({sum(1 for v in list(mailbox.stall_on.values())[:done_kills] if v == 'data')} after DATA, "
                f"the rest at RCPT)"
            )
            print(f"   outbox rows done: {done_count()}/{rows}{'' if finished else ' (timed out)'} in {elapsed:.1f} s")
            print(
                f"   emails received: {len(mailbox.messages)}; lost: {lost}; duplicated: {duplicated} "
                f"(cut inside the SMTP dialogue: {dup_cut}, same Message-ID); "
                f"recipients with two different Message-IDs: {different}"
            )

            # ---------------------------------------------------------------- 2. Redis outage
            outage_ids = ticket_ids[n : n + args.outage_replies]
            outage_addresses = {c.email for c in customers[n : n + args.outage_replies]}
            mailbox.stall_on = {}
            log_w, log_s = TMP / "worker-outage.log", TMP / "scheduler-outage.log"
            worker = jobs_process(env, log_w, "worker")
            scheduler = jobs_process(env, log_s, "scheduler")
            procs += [worker, scheduler]
            wait_for(lambda: "Listening on" in log_w.read_text(errors="replace"), 30)
            wait_for(lambda: "Registered" in log_s.read_text(errors="replace"), 30)
            time.sleep(1)
            progress(f"part 2: Redis stopped for {args.outage:.0f} s, {len(outage_ids)} replies meanwhile")
            redis.stop()
            stopped = time.monotonic()
            reply(outage_ids)
            db.session.rollback()
            pending = db.session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == OutboxStatus.pending, OutboxMessage.kind == "notify.ticket_reply"
                )
            )
            time.sleep(max(0.0, args.outage - (time.monotonic() - stopped)))
            alive_during = worker.poll() is None and scheduler.poll() is None
            redis.start()
            back = time.monotonic()
            progress("Redis is back")

            def arrived() -> bool:
                return outage_addresses <= {
                    to for to, mid in mailbox.messages if mid.startswith("<notify-ticket_reply.")
                }

            recovered = wait_for(arrived, timeout=120, interval=0.1)
            recovery = time.monotonic() - back
            time.sleep(2)  # anything more would be a duplicate
            mine = [
                (to, mid)
                for to, mid in mailbox.messages
                if to in outage_addresses and mid.startswith("<notify-ticket_reply.")
            ]
            counts = Counter(mid for _to, mid in mine)
            alive_after = worker.poll() is None and scheduler.poll() is None
            attempts_w = log_w.read_text(errors="replace").count("could not connect to Redis")
            attempts_s = log_s.read_text(errors="replace").count("Redis unavailable") + log_s.read_text(
                errors="replace"
            ).count("lost Redis")
            print(
                f"2. Redis stopped for {args.outage:.0f} s with a worker and the scheduler running; "
                f"{len(outage_ids)} replies committed meanwhile ({pending} rows pending)"
            )
            print(
                f"   worker and scheduler alive during the outage: {alive_during}; after: {alive_after} "
                f"(reconnect attempts logged: worker {attempts_w}, scheduler {attempts_s})"
            )
            print(
                f"   recovery after Redis returned: {recovery:.1f} s until the last email"
                f"{'' if recovered else ' (timed out)'}"
            )
            print(
                f"   delivered: {len(counts)}/{len(outage_ids)}; delivered exactly once: "
                f"{sum(1 for c in counts.values() if c == 1)}; duplicates: {sum(c - 1 for c in counts.values())}"
            )
            for proc in (worker, scheduler):
                os.kill(proc.pid, signal.SIGTERM)
            codes = [proc.wait(30) for proc in (worker, scheduler)]
            print(f"   SIGTERM afterwards: exit codes worker {codes[0]}, scheduler {codes[1]}")
    finally:
        for proc in procs:
            kill(proc)
        smtp.stop()
        redis.stop()
        progress(f"logs in {TMP}")


if __name__ == "__main__":
    main()
