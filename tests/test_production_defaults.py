"""Safe production defaults: without ``PORTAL_ENV=development`` a missing or weak secret key stops start-up with a
clear message, also when gunicorn is started the README's production way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.config import DEVELOPMENT_KEY, InsecureSecretKey

ROOT = Path(__file__).resolve().parents[1]
STRONG_KEY = "k3Jx9-pQ2vL7_wZ4mN8rT1yB6cF0hD5sA2eG7uK9"


def _production(tmp_path: Path, **overrides) -> dict:
    config = {
        "ENV_NAME": "production",
        "TESTING": False,
        "DEBUG": False,
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        # The limiter is one object shared by every app in this process: a second app must not switch it on.
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "JOBS_EMBEDDED_SCHEDULER": False,
        "JOBS_RELAY_ON_COMMIT": False,
        "INDEX_DIR": str(tmp_path / "index"),
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("", "SECRET_KEY is not set"),
        (DEVELOPMENT_KEY, "placeholder"),
        ("change-me-to-a-long-random-string", "placeholder"),
        ("short-key", "too weak"),
        ("a" * 64, "too weak"),
    ],
)
def test_production_refuses_a_missing_or_weak_key(key, message, tmp_path):
    with pytest.raises(InsecureSecretKey, match=message):
        create_app(_production(tmp_path, SECRET_KEY=key))


def test_production_starts_with_a_strong_key_and_development_gets_a_fixed_one(tmp_path):
    assert create_app(_production(tmp_path, SECRET_KEY=STRONG_KEY)).config["SECRET_KEY"] == STRONG_KEY
    development = create_app(_production(tmp_path, ENV_NAME="development", SECRET_KEY=None))
    assert development.config["SECRET_KEY"] == DEVELOPMENT_KEY


def _clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTAL_ENV", "SECRET_KEY", "FLASK_DEBUG")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}", PYTHONPATH=str(ROOT))
    return env


def test_gunicorn_refuses_to_run_without_a_secret_key(tmp_path):
    """``env -u PORTAL_ENV -u SECRET_KEY gunicorn wsgi:app`` exits at once with the reason, instead of serving
    sessions signed with a known key. It runs from a copy of the entry point so that a developer's own ``.env``
    in the checkout cannot change the outcome."""
    (tmp_path / "wsgi.py").write_text((ROOT / "wsgi.py").read_text())
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run(
        [str(gunicorn), "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to start: SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_refuses_the_development_key(tmp_path):
    (tmp_path / "wsgi.py").write_text((ROOT / "wsgi.py").read_text())
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = _clean_env(tmp_path) | {"SECRET_KEY": DEVELOPMENT_KEY}
    result = subprocess.run(
        [str(gunicorn), "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "placeholder" in result.stderr
