"""Schema, demo data and health."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Category, Organization, Role, Ticket, TicketEvent, User


def test_migrations_match_the_models():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migration_seeds_the_categories():
    slugs = set(db.session.scalars(select(Category.slug)))
    assert slugs == {"technical", "integration", "account", "data", "training", "general"}


def test_demo_seed_is_complete_and_idempotent(runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "[4/4]" in result.output

    def snapshot():
        return (
            db.session.scalar(select(func.count(User.id))),
            db.session.scalar(select(func.count(Ticket.id))),
            db.session.scalar(select(func.count(TicketEvent.id))),
            db.session.scalar(select(func.count(Organization.id))),
        )

    first = snapshot()
    staff = db.session.scalars(select(User).where(User.role != Role.customer)).all()
    assert len(staff) == 11
    assert {u.email for u in staff} == {
        f"{n}@support.test"
        for n in (
            "john.smith",
            "sarah.johnson",
            "tom.baker",
            "mike.chen",
            "emily.davis",
            "priya.patel",
            "david.wilson",
            "lisa.brown",
            "alex.morgan",
            "robert.taylor",
            "jennifer.lee",
        )
    }
    shifts = {
        r: sum(1 for u in staff if u.shift_region and u.shift_region.value == r) for r in ("EMEA", "APAC", "AMER")
    }
    assert shifts == {"EMEA": 3, "APAC": 3, "AMER": 3}
    assert first[1] >= 24
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    db.session.expire_all()
    assert snapshot() == first
    from portal.services.accounts import authenticate

    for email in ("customer@demo.test", "other@acme.test", "sarah.johnson@support.test"):
        assert authenticate(email, "demo-pass-2026") is not None


def test_healthz_503_when_database_unusable(app, client):
    from portal import create_app
    from tests.conftest import _Config

    class Broken(_Config):
        SQLALCHEMY_DATABASE_URI = "sqlite:////nonexistent-dir/portal.db"

    broken = create_app(Broken)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"]["status"] == "unavailable"
    with broken.app_context():
        db.engine.dispose()
