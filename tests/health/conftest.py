"""Real parts for the health tests: the jobs tests' SMTP server and Slack receiver, Redis on 127.0.0.1:6379 (a
database number of these tests' own) and real ``flask jobs worker`` processes against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from portal.services import heartbeats
from tests.ops.conftest import ROOT, jobs_config, slack_receiver, smtp_server, worker_env  # noqa: F401

REDIS_DB = 13  # the health tests' own database on the shared Redis
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


@pytest.fixture
def redis_url():
    from redis import Redis

    with Redis.from_url(REDIS_URL) as r:
        r.flushdb()
    yield REDIS_URL
    with Redis.from_url(REDIS_URL) as r:
        r.flushdb()


@pytest.fixture(autouse=True)
def _fresh_heartbeat_throttle(app):
    heartbeats.forget_throttle()
    yield
    heartbeats.forget_throttle()
    app.extensions.pop("health_redis", None)
    app.extensions.pop("jobs_redis", None)


def start_jobs_worker(config: dict) -> subprocess.Popen:
    """``flask --app wsgi jobs worker`` as a real process in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"],
        cwd=ROOT,
        env=worker_env(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_jobs_worker(proc: subprocess.Popen, timeout: float = 30) -> str:
    """SIGTERM (RQ's warm shutdown), then wait for it to end; its output."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
    return (output or b"").decode(errors="replace")
