"""The embedded default (no ``REDIS_URL``): jobs run in-process on two daemon threads.

* the runner thread takes outbox ids handed over after commit, so a request never waits for SMTP;
* the scheduler thread runs the periodic work (``workers.periodic.SCHEDULE``). Only one process per instance
  directory runs it: the holder of ``instance/jobs-scheduler.lock`` (an ``flock``), so several gunicorn workers or the
  Flask reloader's two processes never sweep twice. Other processes keep trying, and take over if the holder exits.

Both start with the first request the app serves (so ``flask db upgrade`` or ``demo seed`` never start threads).
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from pathlib import Path

from flask import Flask

_lock = threading.Lock()
_runners: dict[int, _Runner] = {}


class _Runner(threading.Thread):
    def __init__(self, app: Flask):
        super().__init__(name="outbox-runner", daemon=True)
        self.app = app
        self.queue: queue.Queue[int] = queue.Queue()

    def run(self) -> None:
        from workers import runner
        from workers.context import job_context

        while True:
            message_id = self.queue.get()
            try:
                with job_context(self.app):
                    runner.process(message_id)
            except Exception:  # keep the thread alive; the row stays for the periodic relay
                self.app.logger.exception("embedded runner failed on outbox %s", message_id)


class _Scheduler(threading.Thread):
    def __init__(self, app: Flask, tick: float):
        super().__init__(name="jobs-scheduler", daemon=True)
        self.app, self.tick = app, tick
        self.lock_path = Path(app.instance_path) / "jobs-scheduler.lock"
        self._lock_file = None
        self.last_run: dict[str, float] = {}

    def _holds_lock(self) -> bool:
        if self._lock_file is not None:
            return True
        handle = open(self.lock_path, "a+")  # noqa: SIM115  (held open for the life of the lock)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0), handle.truncate(), handle.write(str(os.getpid())), handle.flush()
        self._lock_file = handle  # held for the life of the process
        return True

    def run(self) -> None:
        from workers.periodic import run_due_tasks

        while True:
            try:
                if self._holds_lock():
                    run_due_tasks(self.app, self.last_run)
            except Exception:
                self.app.logger.exception("embedded scheduler tick failed")
            time.sleep(self.tick)


def runner_for(app: Flask) -> _Runner | None:
    return _runners.get(id(app))


def start(app: Flask, *, scheduler: bool = True, tick: float = 15.0) -> None:
    """Start the runner (and scheduler) threads for ``app`` once per process."""
    with _lock:
        if id(app) in _runners:
            return
        runner = _Runner(app)
        runner.start()
        _runners[id(app)] = runner
        if scheduler:
            _Scheduler(app, tick).start()


def submit(app: Flask, ids: list[int]) -> int:
    """Queue ``ids`` for the runner thread; without a running thread (a CLI command) the rows stay pending and the
    serving process's scheduler relays them."""
    runner = runner_for(app)
    if runner is None:
        return 0
    for message_id in ids:
        runner.queue.put(message_id)
    return len(ids)


def init_app(app: Flask) -> None:
    if app.config.get("TESTING") or app.config.get("REDIS_URL"):
        return

    @app.before_request
    def _start_jobs_threads() -> None:
        if id(app) not in _runners:
            start(app, scheduler=bool(app.config.get("JOBS_EMBEDDED_SCHEDULER")))
