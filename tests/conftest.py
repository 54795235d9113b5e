"""Fixtures: a real database (SQLite file by default, PostgreSQL when TEST_DATABASE_URL is set), built by the
migrations, emptied after every test; a test client; factories; and helpers to sign in and fetch CSRF tokens."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Organization, Role, Ticket, User, utcnow
from portal.search.store import close_searchers
from portal.services import throttle
from portal.services import tickets as ticket_service
from portal.services.accounts import hash_password
from portal.services.catalog import ensure_default_categories
from portal.services.kb.categories import ensure_kb_categories
from portal.services.kb.search_log_buffer import spool_root
from workers import embedded

PASSWORD = "correct-horse-battery"
_TMP = Path(tempfile.mkdtemp(prefix="portal-tests-"))
# Everything a test app writes outside the database — search indexes, emails written to files, the scheduler's
# lock — goes to this session's own instance directory, never to the repository's instance/ (a portal running
# from this checkout uses that one). Worker processes started by tests get the same index directory.
TEST_INSTANCE_DIR = _TMP / "instance"
TEST_INDEX_DIR = Path(os.environ.get("TEST_INDEX_DIR") or TEST_INSTANCE_DIR / "index")


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url and worker:
        url = _worker_database(url, worker)
    return url or f"sqlite:///{_TMP / 'test.db'}"


def _worker_database(url: str, worker: str) -> str:
    """Parallel workers on PostgreSQL: each gets its own database beside the given one (``<name>_gw0``, ...),
    created when missing (the suite's run script drops them afterwards)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


class _Config(TestConfig):
    SQLALCHEMY_DATABASE_URI = _database_url()
    INDEX_DIR = str(TEST_INDEX_DIR)


def make_test_app(config: type = _Config):
    """An app for tests: ``config``, and the session's instance directory instead of the repository's."""
    app = create_app(config)
    app.instance_path = str(TEST_INSTANCE_DIR)
    TEST_INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return app


def _reset_schema() -> None:
    """Start from an empty database so the migrations build every table."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


class IsolatedClient(FlaskClient):
    """Each request runs in its own application context (own ``g``, own database session), as in production,
    even though the test itself holds an app context for its factories and assertions."""

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


@pytest.fixture(scope="session")
def app():
    app = make_test_app()
    app.test_client_class = IsolatedClient
    with app.app_context():
        _reset_schema()
        upgrade(revision="heads")
    yield app
    close_searchers()  # the pooled Whoosh searchers' files, not left for the interpreter's exit to find
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(app):
    with app.app_context():
        yield
        # a runner thread a test started ends with it: its rows must not run against the next test's database
        embedded.shutdown(grace=15)
        db.session.rollback()
        db.session.remove()
        tables = list(reversed(db.metadata.sorted_tables))
        if db.engine.dialect.name == "postgresql":
            _truncate(tables)
        else:
            with db.engine.begin() as conn:
                for table in tables:
                    conn.execute(table.delete())
                conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None
        ensure_default_categories()
        ensure_kb_categories()
        db.session.commit()
        throttle.reset_all()
        shutil.rmtree(spool_root(), ignore_errors=True)  # search log entries a test left in the buffer


def _truncate(tables) -> None:
    """Empty every table (PostgreSQL). A job thread a test started may still be finishing when the test ends, inside
    a transaction whose locks the TRUNCATE must wait for — and, if that job then opens a second connection on a table
    the TRUNCATE has queued for, neither can move (a deadlock PostgreSQL may break either way). So the TRUNCATE waits
    a few seconds at most; after that (or after being the deadlock's victim) the other
    connections to this test database are ended (the leftover job fails, as it would with its process gone) and the
    TRUNCATE runs again."""
    statement = text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE")
    for attempt in range(3):
        try:
            with db.engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                conn.execute(statement)
            return
        except OperationalError as exc:
            # lock_not_available, or a deadlock with such a job (PostgreSQL picked the TRUNCATE as its victim)
            if getattr(exc.orig, "sqlstate", None) not in ("55P03", "40P01") or attempt == 2:
                raise
            with db.engine.begin() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            db.engine.dispose()  # pooled connections of this process may be among those ended


def _has_sqlite_sequence(conn) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_seq = itertools.count(1)


@pytest.fixture
def make_org():
    def make(name: str | None = None, domains: str = "", **kwargs) -> Organization:
        n = next(_seq)
        org = Organization(name=name or f"Org {n}", email_domains=domains or f"org{n}.test", **kwargs)
        db.session.add(org)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_user():
    def make(
        role: Role | str = Role.customer,
        *,
        organization: Organization | None = None,
        email: str | None = None,
        name: str | None = None,
        **kwargs,
    ) -> User:
        role = Role(role)
        n = next(_seq)
        user = User(
            email=email or f"{role.value}{n}@example.test",
            name=name or f"{role.value.title()} {n}",
            role=role,
            password_hash=hash_password(PASSWORD),
            organization=organization,
            email_verified_at=kwargs.pop("email_verified_at", utcnow()),
            specializations=kwargs.pop("specializations", []),
            **kwargs,
        )
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_ticket():
    def make(
        requester: User,
        *,
        subject: str = "Import fails",
        description: str = "The CSV import stops at row 3.",
        category: str = "data",
        priority: str = "medium",
        actor: User | None = None,
    ) -> Ticket:
        ticket = ticket_service.create_ticket(
            actor or requester,
            subject=subject,
            description=description,
            category=category,
            priority=priority,
            requester=requester if actor is not None else None,
        )
        db.session.commit()
        return ticket

    return make


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1) or match.group(2)


def login(client, user_or_email, password: str = PASSWORD):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)})


def csrf_token(client, path: str = "/profile") -> str:
    return csrf_from(client.get(path).text)


@pytest.fixture
def login_as(client):
    """Sign ``user`` in on the shared test client and return (client, csrf token)."""

    def do(user: User):
        response = login(client, user)
        assert response.status_code == 302, response.text
        return client, csrf_token(client)

    return do
