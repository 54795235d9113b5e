"""Sign-in keeps working while the rate-limit store (Redis) is down: limits fall back to an in-process store and the
health page says so. Runs in its own process (the limiter is one object per process) against a real Redis URL on
a port where nothing listens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = textwrap.dedent("""
    import json, re, sys
    from portal import create_app
    from portal.config import TestConfig
    from portal.extensions import db
    from portal.models import Role, User, utcnow
    from portal.services.accounts import hash_password

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        INDEX_DIR = sys.argv[2]
        RATELIMIT_ENABLED = True
        RATELIMIT_STORAGE_URI = sys.argv[1]
        LOGIN_RATE_LIMIT = "3 per minute"

    app = create_app(Config)
    app.instance_path = sys.argv[3]
    with app.app_context():
        db.create_all()
        db.session.add(User(email="agent@example.test", name="Agent", role=Role.agent,
                            password_hash=hash_password("pass-word-2026"), email_verified_at=utcnow()))
        db.session.commit()
    codes = []
    for password in ("pass-word-2026", "wrong", "wrong", "wrong", "wrong"):
        client = app.test_client()  # a new browser each time (the first one is signed in)
        page = client.get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
        codes.append(client.post("/login", data={"email": "agent@example.test", "password": password,
                                                 "csrf_token": token}).status_code)
    health = client.get("/healthz")
    print(json.dumps({"codes": codes, "health": health.get_json(), "health_code": health.status_code}))
""")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_sign_in_works_and_limits_fall_back_while_redis_is_down(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, f"redis://127.0.0.1:{_closed_port()}/0", str(tmp_path / "index"), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["codes"][0] == 302  # signed in, although the limit store is unreachable
    assert 500 not in out["codes"] and out["codes"][-1] == 429  # the in-process fallback still limits
    assert out["health_code"] == 200
    assert out["health"]["rate_limits"] == {"status": "fallback", "storage": "memory", "configured": "redis"}
