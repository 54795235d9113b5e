"""Background jobs: the outbox relay, RQ job entry points, the periodic schedule and the embedded runner."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the after-commit relay, the ``flask jobs`` commands and (embedded default) the in-process threads."""
    from workers import embedded, relay
    from workers.cli import jobs_cli

    relay.init_app(app)
    embedded.init_app(app)
    app.cli.add_command(jobs_cli)
