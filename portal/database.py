"""Database start-up: SQLite pragmas and the request-boundary transaction."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.extensions import db


def _sqlite_pragmas(busy_timeout_ms: int):
    def apply(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # then "database is locked": a 503
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


def init_app(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 5000)))

    @app.after_request
    def _commit_or_roll_back(response):
        """The one place a request's work is committed: success commits, any error response rolls back."""
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response
