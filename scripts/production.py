#!/usr/bin/env python3
"""Run the portal in its production shape on one machine, without containers: PostgreSQL and Redis (already
running), the schema brought up to date, then

- ``web``: gunicorn with ``WEB_PROCESSES`` processes (2) of ``WEB_THREADS`` threads (8; chat streams hold a thread);
- ``worker-notify``: an RQ worker for the ``notify`` queue (emails, Slack, pages, webhooks);
- ``worker-sweeps``: an RQ worker for ``sweeps`` and ``default`` (SLA sweep, hand-over, the outbox relay, ...);
- ``worker-index``: exactly one worker for ``index`` (Whoosh takes one write lock per index);
- ``scheduler``: exactly one periodic scheduler.

    DATABASE_URL=postgresql://portal@127.0.0.1/portal REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=... \\
        .venv/bin/python scripts/production.py [--port 8000] [--seed]

``--seed`` loads the demo data and rebuilds the search index first (a trial or a smoke test). Every process's
output is prefixed with its name. SIGTERM or Ctrl-C stops them all (gracefully, then killed after
``--grace`` seconds); when one of them dies, the others are stopped and the exit status is 1, so a service manager
(systemd, see docs/operations.md) restarts the whole set. The same processes are listed in the ``Procfile`` for
foreman/honcho users.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _flask(*args: str) -> list[str]:
    return [str(BIN / "flask"), "--app", "wsgi", *args]


def processes(port: int, host: str) -> dict[str, list[str]]:
    web_processes = os.environ.get("WEB_PROCESSES", "2")
    web_threads = os.environ.get("WEB_THREADS", "8")
    return {
        "web": [
            str(BIN / "gunicorn"),
            "--workers",
            web_processes,
            "--worker-class",
            "gthread",
            "--threads",
            web_threads,
            "--bind",
            f"{host}:{port}",
            "--graceful-timeout",
            "20",
            "--access-logfile",
            "-",
            "wsgi:app",
        ],
        "worker-notify": _flask("jobs", "worker", "notify"),
        "worker-sweeps": _flask("jobs", "worker", "sweeps", "default"),
        "worker-index": _flask("jobs", "worker", "index"),
        "scheduler": _flask("jobs", "scheduler"),
    }


def _pump(name: str, stream, lock: threading.Lock) -> None:
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(f"{name:>14} | {line.decode(errors='replace')}")
            sys.stdout.flush()


def _run_step(what: str, command: list[str], env: dict[str, str]) -> None:
    print(f"==> {what}", flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed (exit status {result.returncode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--seed", action="store_true", help="load the demo data and rebuild the search index first")
    parser.add_argument("--grace", type=float, default=25.0, help="seconds to wait for a clean stop before killing")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    missing = [name for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") if not env.get(name)]
    if missing:
        print(f"production shape needs {', '.join(missing)} (see docs/operations.md)", file=sys.stderr)
        return 2
    env.setdefault("PORTAL_ENV", "production")
    env["PYTHONUNBUFFERED"] = "1"

    _run_step("schema: flask db upgrade", _flask("db", "upgrade", "heads"), env)
    if args.seed:
        _run_step("demo data: flask demo seed", _flask("demo", "seed"), env)
        _run_step("search index: flask search rebuild", _flask("search", "rebuild"), env)

    lock = threading.Lock()
    running: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def stop(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name, command in processes(args.port, args.host).items():
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        running[name] = proc
        threading.Thread(target=_pump, args=(name, proc.stdout, lock), daemon=True).start()
        print(f"==> started {name} (pid {proc.pid}): {' '.join(command[-6:])}", flush=True)
    print(f"==> serving on http://{args.host}:{args.port}", flush=True)

    status = 0
    while not stopping.is_set():
        dead = [(name, p.returncode) for name, p in running.items() if p.poll() is not None]
        if dead:
            for name, code in dead:
                print(f"==> {name} exited with status {code}: stopping the others", file=sys.stderr, flush=True)
            status = 1
            break
        stopping.wait(0.5)

    for proc in running.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + args.grace
    for name, proc in running.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"==> {name} did not stop within {args.grace:.0f}s: killed", file=sys.stderr, flush=True)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print("==> stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
