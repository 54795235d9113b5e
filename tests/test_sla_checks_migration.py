"""The migration that moved the sweep's next look at a ticket out of ``tickets`` into ``sla_checks`` keeps every
pending check, both ways, and (on SQLite) leaves the tickets table's counter triggers in place."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from portal.extensions import db
from tests.conftest import _Config, make_test_app


def _triggers() -> set[str]:
    rows = db.session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tickets'"))
    return {r[0] for r in rows}


def test_pending_checks_survive_the_migration_both_ways(tmp_path):
    class Config(_Config):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'migrate.db'}"

    app = make_test_app(Config)
    with app.app_context():
        upgrade(revision="heads")
        from portal.demo import seed

        seed(echo=lambda *_: None)
        db.session.commit()
        checks = dict(db.session.execute(text("SELECT ticket_id, check_at FROM sla_checks")).all())
        assert len(checks) >= 5  # the demo's open tickets have thresholds pending
        triggers = _triggers()
        assert triggers  # the open-ticket counters

        downgrade(revision="0025_updated_order_indexes")
        moved_back = dict(
            db.session.execute(text("SELECT id, sla_check_at FROM tickets WHERE sla_check_at IS NOT NULL")).all()
        )
        assert moved_back == checks
        assert _triggers() == triggers

        upgrade(revision="heads")
        again = dict(db.session.execute(text("SELECT ticket_id, check_at FROM sla_checks")).all())
        assert again == checks
        columns = {r[1] for r in db.session.execute(text("PRAGMA table_info(tickets)"))}
        assert "sla_check_at" not in columns
        assert _triggers() == triggers
        db.session.remove()
        db.engine.dispose()
