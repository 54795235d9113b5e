"""A bounded load test of a running portal: N clients (10) for S seconds (60) on loopback, over the agent queue, ticket
pages, staff search and the API. Prints requests, errors by status and p50/p95/max per kind; the exit status is 1 when
any response was a 5xx (or the connection failed).

    # against the production shape (scripts/production.py --seed) on port 8000:
    .venv/bin/python bench/load_test.py --base-url http://127.0.0.1:8000 --api-token "$(flask --app wsgi users token \\
        sarah.johnson@support.test --scope read)" [--clients 10] [--seconds 60]

Each client signs in as the agent (``--email``/``--password``, the demo agent by default) with its own cookie jar and
then loops: the queue page (view "all", a random page of the first ten), a ticket page (references read from the
queue), a search for a common and a rare word, and ``GET /api/v1/tickets`` with the bearer token. Progress is a line
every five seconds.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import random
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict

WORDS = ["export", "scope", "import", "report", "login", "emission", "sap", "dashboard"]
RARE = ["meter", "warehouse", "plant", "purchase", "campus"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    def __init__(self, base: str, token: str | None):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict | None = None, api: bool = False) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method="POST" if data is not None else "GET")
        if api and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def sign_in(self, email: str, password: str) -> None:
        status, html = self.request("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        if status != 200 or not token:
            raise SystemExit(f"cannot load the sign-in page ({status})")
        status, _ = self.request("/login", {"csrf_token": token.group(1), "email": email, "password": password})
        if status not in (302, 303):
            raise SystemExit(f"sign-in as {email} failed ({status})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="sarah.johnson@support.test")
    parser.add_argument("--password", default="demo-pass-2026")
    parser.add_argument("--api-token", default=None, help="a read token for the API part (skipped without one)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    timings: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    lock = threading.Lock()
    references: list[str] = []
    clients = []
    for _ in range(args.clients):
        client = Client(args.base_url.rstrip("/"), args.api_token)
        client.sign_in(args.email, args.password)
        clients.append(client)
    status, html = clients[0].request("/agent/queue?view=all")
    references = sorted(set(re.findall(r"/agent/tickets/([A-Z]+-\d+)", html))) or ["ESG-000001"]
    deadline = time.monotonic() + args.seconds

    def work(index: int) -> None:
        rng = random.Random(args.seed * 1000 + index)
        client = clients[index]
        kinds = ["queue", "ticket", "search", "search_rare"] + (["api"] if args.api_token else [])
        while time.monotonic() < deadline:
            kind = rng.choice(kinds)
            if kind == "queue":
                path, api = f"/agent/queue?view=all&page={rng.randint(1, 10)}", False
            elif kind == "ticket":
                path, api = f"/agent/tickets/{rng.choice(references)}", False
            elif kind == "search":
                path, api = f"/agent/search?q={rng.choice(WORDS)}", False
            elif kind == "search_rare":
                path, api = f"/agent/search?q={rng.choice(RARE)}+{rng.randint(1, 400)}", False
            else:
                path, api = f"/api/v1/tickets?view=all&page={rng.randint(1, 5)}", True
            started = time.perf_counter()
            try:
                code, _ = client.request(path, api=api)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                code = 599  # no answer at all counts as a server error
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                timings[kind].append(elapsed)
                statuses[kind][code] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(args.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        with lock:
            done = sum(len(v) for v in timings.values())
        sys.stderr.write(f"  {time.monotonic() - started:5.0f}s  {done:,} requests\n")
    for thread in threads:
        thread.join()

    server_errors = 0
    print(f"{args.clients} clients, {args.seconds:.0f} s against {args.base_url}")
    print(f"{'kind':<12} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses")
    for kind in sorted(timings):
        values = sorted(timings[kind])
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses[kind].items()))
        server_errors += sum(n for code, n in statuses[kind].items() if code >= 500)
        print(f"{kind:<12} {len(values):>9,} {statistics.median(values):>8.1f} {p95:>8.1f} {values[-1]:>8.1f}  {codes}")
    total = sum(len(v) for v in timings.values())
    print(f"total {total:,} requests, {total / args.seconds:.1f}/s, 5xx or no answer: {server_errors}")
    return 1 if server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
