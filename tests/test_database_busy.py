"""A database that stays locked longer than the busy timeout answers 503 with Retry-After (JSON for the API, a page
for people) and saves nothing — never a 500 with a traceback; once the lock is gone the same request succeeds."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Ticket
from portal.services.accounts import create_api_token
from tests.conftest import IsolatedClient, _Config, csrf_token, login, make_test_app


class _ShortBusyTimeout(_Config):
    SQLITE_BUSY_TIMEOUT_MS = 100


@pytest.fixture
def busy_app(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the lock is taken with SQLite's own BEGIN IMMEDIATE")
    other = make_test_app(_ShortBusyTimeout)
    other.test_client_class = IsolatedClient
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def write_lock(app):
    """Another process's write transaction on the same database file (as a long import or a backup would hold)."""
    path = db.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK") if holder.in_transaction else None
        holder.close()


def test_a_locked_database_is_a_503_with_retry_after_and_nothing_is_saved(busy_app, write_lock, make_org, make_user):
    org = make_org("Demo", "demo.test")
    customer = make_user("customer", organization=org)
    _, token = create_api_token(customer, "t")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    payload = {"subject": "Scope 2 totals", "description": "The totals differ.", "priority": "medium"}
    client = busy_app.test_client()
    page = busy_app.test_client()
    login(page, customer)
    token_field = csrf_token(page, "/portal/tickets/new")

    write_lock.execute("BEGIN IMMEDIATE")
    response = client.post("/api/v1/tickets", json=payload, headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"]["code"] == "database_busy"
    assert "nothing was saved" in response.json["error"]["message"]
    filed = page.post(
        "/portal/tickets/new",
        data={"csrf_token": token_field, "category": "data", **payload},
    )
    assert filed.status_code == 503 and filed.headers["Retry-After"] == "5"
    assert "nothing was saved" in filed.text and "Traceback" not in filed.text
    write_lock.execute("ROLLBACK")

    assert db.session.scalar(select(func.count(Ticket.id))) == 0
    assert client.post("/api/v1/tickets", json=payload, headers=headers).status_code == 201
    assert db.session.scalar(select(func.count(Ticket.id))) == 1
