"""The application a job runs in: the current one (embedded threads, tests, ``flask jobs worker``) or one created
from the environment once per process (a plain ``rq worker``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

_APP: Flask | None = None


def get_app() -> Flask:
    global _APP
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _APP is None:
        from dotenv import load_dotenv

        from portal import create_app

        load_dotenv()
        _APP = create_app()
    return _APP


@contextmanager
def job_context(app: Flask | None = None) -> Iterator[Flask]:
    """A fresh application context (own database session) for one job; the session is removed afterwards."""
    from portal.extensions import db

    app = app or get_app()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
