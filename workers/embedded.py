"""The embedded default (no ``REDIS_URL``): jobs run in-process on two daemon threads.

* the runner thread takes outbox ids handed over after commit, so a request never waits for SMTP;
* the scheduler thread runs the periodic work (``workers.periodic.SCHEDULE``). Only one process per instance
  directory runs it: the holder of ``instance/jobs-scheduler.lock`` (an ``flock``), so several gunicorn workers or the
  Flask reloader's two processes never sweep twice. Other processes keep trying, and take over if the holder exits.

Both start with the first request the app serves (so ``flask db upgrade`` or ``demo seed`` never start threads).

Shutdown (SIGTERM, or the interpreter exiting — gunicorn's graceful worker exit): the runner takes no new row and
finishes the one in progress (up to ``grace`` seconds); rows not started stay ``pending`` in the database (handed
back: the scheduler relays them), and a row cut anyway is retried by the relay (idempotent; an uncertain send with
the same Message-ID).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import queue
import signal
import threading
import time
from pathlib import Path

from flask import Flask

_lock = threading.Lock()
_runners: dict[int, _Runner] = {}


_STOP = -1  # queued to wake the runner when it must stop
HEARTBEAT_EVERY = 15.0  # seconds an idle runner waits for a row before beating again


def _beat(app: Flask) -> None:
    try:
        from portal.services import heartbeats
        from portal.services.outbox import QUEUES

        with app.app_context():
            heartbeats.beat(heartbeats.worker_name(), "worker", "embedded:" + ",".join(QUEUES))
    except Exception:  # a heartbeat is best effort
        pass


class _Runner(threading.Thread):
    def __init__(self, app: Flask):
        super().__init__(name="outbox-runner", daemon=True)
        self.app = app
        self.queue: queue.Queue[int] = queue.Queue()
        self.stopping = threading.Event()
        self.current: int | None = None

    def run(self) -> None:
        from workers import runner
        from workers.context import job_context

        while not self.stopping.is_set():
            _beat(self.app)  # Heartbeat "worker:<host>:<pid>" (at most every 15 s, never raises)
            try:
                message_id = self.queue.get(timeout=HEARTBEAT_EVERY)
            except queue.Empty:
                continue
            if message_id == _STOP or self.stopping.is_set():
                break  # the rows still queued were never claimed: they stay pending for the relay
            self.current = message_id
            try:
                with job_context(self.app):
                    runner.process(message_id)
            except Exception:  # keep the thread alive; the row stays for the periodic relay
                self.app.logger.exception("embedded runner failed on outbox %s", message_id)
            finally:
                self.current = None

    def stop(self, grace: float) -> bool:
        """Take no new row, finish the current one within ``grace`` seconds. True if the thread ended."""
        self.stopping.set()
        self.queue.put(_STOP)
        self.join(grace)
        if self.is_alive():
            self.app.logger.warning(
                "embedded runner still on outbox %s after %.0f s: it is retried by the relay", self.current, grace
            )
        return not self.is_alive()


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


def shutdown(grace: float | None = None) -> bool:
    """Stop every runner thread of this process gracefully (see the module docstring). True if all ended."""
    with _lock:
        runners = list(_runners.values())
        _runners.clear()
    ended = True
    for runner in runners:
        limit = grace if grace is not None else float(runner.app.config.get("MAIL_TIMEOUT", 30)) + 5
        ended = runner.stop(limit) and ended
    return ended


def _on_sigterm(signum, _frame) -> None:
    shutdown()
    signal.signal(signum, signal.SIG_DFL)  # then terminate as SIGTERM would have
    os.kill(os.getpid(), signum)


def install_shutdown_handlers() -> None:
    """Finish the current row at exit; on SIGTERM too when nobody else handles it (``flask run``; gunicorn installs
    its own handler and exits through ``atexit``)."""
    atexit.register(shutdown)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


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
    install_shutdown_handlers()

    @app.before_request
    def _start_jobs_threads() -> None:
        if id(app) not in _runners:
            start(app, scheduler=bool(app.config.get("JOBS_EMBEDDED_SCHEDULER")))
