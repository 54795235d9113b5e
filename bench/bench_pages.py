"""Time the portal's hot pages, served by gunicorn, against a generated database.

    python bench/bench_pages.py --database-url sqlite:////tmp/bench100k.db [--requests 200] [--workers 1]

Starts ``gunicorn -w N wsgi:app`` on a free local port with DATABASE_URL pointing at the database, waits for
/healthz, signs in as an agent (sarah.johnson@support.test) and as a customer (customer@demo.test) with the standard
library's http.client, warms up, then times N sequential requests per page and prints median, p95 and mean in ms.
Each request opens its own connection (gunicorn's sync workers close it after every response), so the figures include
connect + request + full body read, measured on the client. /healthz (one ``SELECT 1``) is timed too as the floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "demo-pass-2026"
AGENT_EMAIL = "sarah.johnson@support.test"
CUSTOMER_EMAIL = "customer@demo.test"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Client:
    """A tiny cookie-keeping HTTP client on http.client; one connection per request."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes]:
        headers = {"Accept": "text/html", "User-Agent": "portal-bench"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(header)
                for name, morsel in jar.items():
                    if morsel["expires"] and "1970" in morsel["expires"] or morsel.value == "":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, dict(response.headers), payload
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict, bytes]:
        return self.request("GET", path)

    def login(self, email: str, password: str) -> None:
        status, _, page = self.get("/login")
        match = CSRF_RE.search(page.decode("utf-8", "replace"))
        if status != 200 or not match:
            raise SystemExit(f"login page: HTTP {status}, no csrf_token found")
        token = match.group(1) or match.group(2)
        status, headers, _ = self.request("POST", "/login", {"email": email, "password": password, "csrf_token": token})
        if status not in (302, 303):
            raise SystemExit(f"login as {email} failed: HTTP {status}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_facts(url: str, sample: int, rng: random.Random) -> dict:
    """Counts, size and a few tickets with a conversation (≥3 events) spread over the id range."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url)
    facts: dict = {"dialect": engine.dialect.name}
    try:
        with engine.connect() as conn:
            facts["tickets"] = conn.scalar(text("SELECT COUNT(*) FROM tickets"))
            facts["events"] = conn.scalar(text("SELECT COUNT(*) FROM ticket_events"))
            facts["open"] = conn.scalar(
                text("SELECT COUNT(*) FROM tickets WHERE status IN ('new','open','pending','on_hold')")
            )
            lo, hi = conn.execute(text("SELECT MIN(id), MAX(id) FROM tickets")).one()
            candidates = sorted({rng.randint(lo, hi) for _ in range(sample * 5)}) if hi else []
            ids = []
            if candidates:
                rows = conn.execute(
                    text(
                        "SELECT ticket_id, COUNT(*) FROM ticket_events WHERE ticket_id IN ({}) GROUP BY ticket_id "
                        "HAVING COUNT(*) >= 3".format(",".join(str(c) for c in candidates))
                    )
                ).all()
                ids = [r[0] for r in rows]
                rng.shuffle(ids)
            facts["ticket_ids"] = ids[:sample]
            if facts["dialect"] == "postgresql":
                facts["size"] = conn.scalar(text("SELECT pg_database_size(current_database())"))
            else:
                path = make_url(url).database
                facts["size"] = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    finally:
        engine.dispose()
    return facts


def start_gunicorn(
    url: str, port: int, workers: int, log_path: Path, extra_env: dict, app: str = "wsgi:app", args: tuple = ()
) -> subprocess.Popen:
    """``gunicorn -w workers app`` in the repository root, sync workers, on 127.0.0.1:port; ``args`` are added to
    the command line (e.g. ``("--pythonpath", "bench")``)."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "RATELIMIT_ENABLED": "0",
            "PORTAL_ENV": "production",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Web processes only serve pages, as in production where RQ workers run the jobs: without this the
            # embedded scheduler would sweep the SLA backlog of the generated data inside the timed process.
            "JOBS_EMBEDDED_SCHEDULER": "0",
            "JOBS_RELAY_ON_COMMIT": "0",
        }
    )
    env.update(extra_env)
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    if not gunicorn.exists():
        gunicorn = Path(sys.executable).parent / "gunicorn"
    cmd = [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning", *args, app]
    log = open(log_path, "wb")  # noqa: SIM115  (handed to the server process, which outlives this function)
    return subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(client: Client, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            status, _, body = client.get("/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn not healthy after {timeout}s:\n{log_path.read_text(errors='replace')[-3000:]}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the master stops its workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def time_page(client: Client, paths: list[str], n: int, warmup: int) -> tuple[list[float], int, int, int]:
    """Warm up, then n sequential requests cycling through ``paths``; returns durations (ms), errors, body size and
    the table rows of the last body (a page's cost grows with the rows it shows: a view with fewer matching tickets
    than a page holds is cheaper, whatever the table's size)."""
    for i in range(warmup):
        client.get(paths[i % len(paths)])
    times, errors, size = [], 0, 0
    for i in range(n):
        path = paths[i % len(paths)]
        t = time.perf_counter()
        status, _, body = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        size = len(body)
        if status != 200:
            errors += 1
    rows = max(0, body.count(b"<tr") - body.count(b"<thead"))
    return times, errors, size, rows


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="database to serve")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page first (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--tickets-sample", type=int, default=20, help="ticket pages to cycle through (default 20)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for gunicorn (repeatable), e.g. QUEUE_PAGE_SIZE=25",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE (bench/scale.py reads them)")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    url = args.database_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    extra_env = dict(item.split("=", 1) for item in args.env)

    rng = random.Random(args.seed)
    try:
        facts = database_facts(url, args.tickets_sample, rng)
    except Exception as exc:
        raise SystemExit(
            f"cannot read the benchmark database ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); "
            f"run bench/generate.py first"
        ) from exc
    if not facts["ticket_ids"]:
        raise SystemExit("no ticket with a conversation found; run bench/generate.py first")
    port = args.port or free_port()
    log_path = Path(tempfile.gettempdir()) / f"portal-bench-gunicorn-{port}.log"
    proc = start_gunicorn(url, port, args.workers, log_path, extra_env)
    results = []
    try:
        agent, customer, probe = Client("127.0.0.1", port), Client("127.0.0.1", port), Client("127.0.0.1", port)
        wait_healthy(probe, proc, log_path)
        agent.login(AGENT_EMAIL, DEMO_PASSWORD)
        customer.login(CUSTOMER_EMAIL, DEMO_PASSWORD)
        for client, path in ((agent, "/agent/queue"), (customer, "/portal/tickets")):
            status, _, _ = client.get(path)
            if status != 200:
                raise SystemExit(
                    f"{path}: HTTP {status} after login; server log: {log_path} (a database generated "
                    f"before newer migrations/models? re-run bench/generate.py)"
                )
        tickets = [f"/agent/tickets/ESG-{i:06d}" for i in facts["ticket_ids"]]
        pages = [
            ("healthz (SELECT 1, floor)", probe, ["/healthz"]),
            ("agent queue (default: open)", agent, ["/agent/queue"]),
            ("agent queue view=all", agent, ["/agent/queue?view=all"]),
            ("agent queue view=unassigned", agent, ["/agent/queue?view=unassigned"]),
            ("agent queue view=mine", agent, ["/agent/queue?view=mine"]),
            ("agent queue counts (htmx)", agent, ["/agent/queue/counts?view=open"]),
            (f"agent ticket page ({len(tickets)} tickets)", agent, tickets),
            ("customer ticket list", customer, ["/portal/tickets"]),
            ("customer home", customer, ["/portal/"]),
        ]
        for label, client, paths in pages:
            times, errors, size, rows = time_page(client, paths, args.requests, args.warmup)
            results.append((label, times, errors, size, rows))
            sys.stderr.write(f"  {label}: median {statistics.median(times):.2f} ms\n")
    finally:
        stop_gunicorn(proc)

    print()
    print(f"database : {make_display(url)} ({facts['dialect']}), size {human_size(facts['size'])}")
    print(f"data     : {facts['tickets']:,} tickets ({facts['open']:,} open), {facts['events']:,} events")
    print(
        f"server   : gunicorn -w {args.workers} (sync), {args.requests} sequential requests per page after "
        f"{args.warmup} warm-up"
    )
    print()
    header = f"{'page':<34} {'median':>8} {'p95':>8} {'mean':>8} {'min':>8} {'errors':>6} {'bytes':>8} {'rows':>5}"
    print(header)
    print("-" * len(header))
    for label, times, errors, size, rows in results:
        print(
            f"{label:<34} {statistics.median(times):>8.2f} {p95(times):>8.2f} {statistics.fmean(times):>8.2f} "
            f"{min(times):>8.2f} {errors:>6} {size:>8} {rows:>5}"
        )
    print("(times in ms, measured on the client: connect + request + full response; rows: table rows shown)")
    if args.json:
        figures = {
            label: {"median": statistics.median(t), "p95": p95(t), "errors": e, "rows": r}
            for label, t, e, _, r in results
        }
        Path(args.json).write_text(json.dumps({"facts": {k: facts[k] for k in ("tickets", "open")}, "pages": figures}))
    return 1 if any(errors for _, _, errors, _, _ in results) else 0


def make_display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
