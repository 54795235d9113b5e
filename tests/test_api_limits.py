"""API rate limits: API_RATE_LIMIT per token across every endpoint (another token has its own budget), per client
address without a token; RateLimit-* headers on every answer, a 429 with Retry-After and the API's JSON error over
the limit. Runs in its own process: the limiter is one object per process and the suite runs with limits off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHILD = textwrap.dedent("""
    import json, sys
    from portal import create_app
    from portal.config import TestConfig
    from portal.extensions import db
    from portal.models import Role, User
    from portal.services.accounts import create_api_token, hash_password

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        INDEX_DIR = sys.argv[1]
        RATELIMIT_ENABLED = True
        RATELIMIT_STORAGE_URI = "memory://"
        API_RATE_LIMIT = "3 per minute"
        TRUSTED_PROXIES = "127.0.0.1"  # the test client is "our proxy": X-Forwarded-For names the client

    app = create_app(Config)
    app.instance_path = sys.argv[2]
    with app.app_context():
        db.create_all()
        one = User(email="one@example.test", name="One", role=Role.customer, password_hash=hash_password("x" * 12))
        two = User(email="two@example.test", name="Two", role=Role.customer, password_hash=hash_password("x" * 12))
        db.session.add_all([one, two])
        db.session.flush()
        _t, first = create_api_token(one, "first")
        _t, second = create_api_token(one, "second", scope="read")
        _t, third = create_api_token(two, "third")
        db.session.commit()

    client = app.test_client()
    keep = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "Content-Type")

    def call(path, token=None, address="198.51.100.1"):
        headers = {"X-Forwarded-For": address}
        if token:
            headers["Authorization"] = "Bearer " + token
        response = client.get(path, headers=headers)
        return {"status": response.status_code, "body": response.get_json(silent=True),
                "headers": {k: response.headers.get(k) for k in keep}}

    out = {
        # One budget per token, shared by every endpoint.
        "first": [call("/api/v1/tickets", first), call("/api/v1/kb/search?q=report", first),
                  call("/api/v1/tickets", first), call("/api/v1/tickets", first)],
        "second": [call("/api/v1/tickets", second)],  # another token of the same user
        "third": [call("/api/v1/tickets", third, address="203.0.113.9")],
        # Without a token, and with made-up tokens: per client address.
        "anonymous": [call("/api/v1/kb/search?q=report") for _ in range(3)] + [call("/api/v1/tickets", "esg_made-up")],
        "elsewhere": [call("/api/v1/kb/search?q=report", address="192.0.2.44")],
        "first_later": [call("/api/v1/tickets", first)],
    }
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> dict:
    """The child's answers (one run for the module's tests)."""
    tmp_path = tmp_path_factory.mktemp("limits")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "index"), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_api_limits_per_token_with_ratelimit_headers(out):
    first = out["first"]
    assert [r["status"] for r in first] == [200, 200, 200, 429]
    assert [r["headers"]["RateLimit-Remaining"] for r in first] == ["2", "1", "0", "0"]
    for answer in first:
        assert answer["headers"]["RateLimit-Limit"] == "3"
        assert 0 < int(answer["headers"]["RateLimit-Reset"]) <= 60
    assert first[0]["headers"]["Retry-After"] is None  # only when refused

    refused = first[3]
    assert refused["body"]["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused["body"]["error"]["message"]
    assert refused["headers"]["Content-Type"].startswith("application/json")
    assert 0 < int(refused["headers"]["Retry-After"]) <= 60
    assert refused["headers"]["Retry-After"] == refused["headers"]["RateLimit-Reset"]

    # Other tokens (even the same user's) have their own budget.
    assert out["second"][0]["status"] == 200 and out["second"][0]["headers"]["RateLimit-Remaining"] == "2"
    assert out["third"][0]["status"] == 200 and out["third"][0]["headers"]["RateLimit-Remaining"] == "2"
    assert out["first_later"][0]["status"] == 429  # still over its limit


def test_api_limits_without_a_token_count_per_client_address(out):
    anonymous = out["anonymous"]
    assert [r["status"] for r in anonymous] == [200, 200, 200, 429]  # a made-up token buys no new budget
    assert anonymous[3]["body"]["error"]["code"] == "rate_limited"
    assert out["elsewhere"][0]["status"] == 200 and out["elsewhere"][0]["headers"]["RateLimit-Remaining"] == "2"
