"""The demo team is the operations guide's sample roster: two L1 agents and one L2 senior agent per shift, a manager
and an admin on flexible hours; seeding again changes nothing, and staff left by an older seed are corrected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.demo import seed
from portal.extensions import db
from portal.models import (
    Category,
    OnCall,
    Organization,
    OutboxMessage,
    Role,
    Shift,
    ShiftRegion,
    Ticket,
    TicketEvent,
    User,
)
from portal.models.kb import Article, Faq
from portal.services.accounts import authenticate
from tests.conftest import PASSWORD

ALL = ("account", "data", "general", "integration", "technical", "training")

# name, email, role, shift, time zone, specializations (sorted), the guide's UTC offset in winter (hours)
ROSTER = {
    ("John Smith", "john.smith@support.test", "senior_agent", "EMEA", "Europe/London", ("integration", "technical"), 0),
    ("Sarah Johnson", "sarah.johnson@support.test", "agent", "EMEA", "Europe/London", ("account", "data"), 0),
    ("Tom Baker", "tom.baker@support.test", "agent", "EMEA", "Europe/London", ("general", "technical"), 0),
    ("Mike Chen", "mike.chen@support.test", "agent", "APAC", "Asia/Singapore", ("technical", "training"), 8),
    ("Emily Davis", "emily.davis@support.test", "senior_agent", "APAC", "Asia/Singapore", ("data", "integration"), 8),
    ("Priya Patel", "priya.patel@support.test", "agent", "APAC", "Asia/Singapore", ("account", "data"), 8),
    ("David Wilson", "david.wilson@support.test", "agent", "AMER", "America/New_York", ("account", "technical"), -5),
    ("Lisa Brown", "lisa.brown@support.test", "agent", "AMER", "America/New_York", ("general", "training"), -5),
    (
        "Alex Morgan",
        "alex.morgan@support.test",
        "senior_agent",
        "AMER",
        "America/New_York",
        ("integration", "technical"),
        -5,
    ),
    ("Robert Taylor", "robert.taylor@support.test", "manager", "flexible", "Europe/London", ALL, 0),
    ("Jennifer Lee", "jennifer.lee@support.test", "admin", "flexible", "Europe/London", ALL, 0),
}
WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _staff() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role != Role.customer).order_by(User.email)))


def _row(user: User) -> tuple:
    offset = WINTER.astimezone(ZoneInfo(user.timezone)).utcoffset() / timedelta(hours=1)
    shift = user.shift_region.value if user.shift_region else None
    return user.name, user.email, user.role.value, shift, user.timezone, tuple(sorted(user.specializations)), offset


def _snapshot() -> dict:
    db.session.expire_all()
    users = db.session.execute(
        select(
            User.email,
            User.name,
            User.role,
            User.timezone,
            User.shift_region,
            User.specializations,
            User.organization_id,
            User.password_hash,
            User.is_active_account,
            User.is_approved,
        ).order_by(User.email)
    ).all()
    counts = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Organization, Ticket, TicketEvent, Article, Faq, OutboxMessage)
    }
    return {
        "users": [tuple(row) for row in users],
        "shifts": db.session.execute(
            select(Shift.region, Shift.start_minute, Shift.end_minute).order_by(Shift.id)
        ).all(),
        "on_call": db.session.execute(
            select(OnCall.user_id, OnCall.starts_at, OnCall.ends_at).order_by(OnCall.id)
        ).all(),
        "counts": counts,
    }


def test_demo_seed_creates_exactly_the_sample_roster(runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    staff = _staff()
    assert {_row(u) for u in staff} == ROSTER and len(staff) == 11
    assert set(db.session.scalars(select(Category.slug))) == set(ALL)  # "all categories" is every category
    for region in (ShiftRegion.emea, ShiftRegion.apac, ShiftRegion.amer):
        on_shift = sorted(u.role.value for u in staff if u.shift_region is region)
        assert on_shift == ["agent", "agent", "senior_agent"], region
    assert all(authenticate(u.email, "demo-pass-2026") is not None for u in staff)


def test_the_demo_data_follows_the_team(runner):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    team = {u.email: u for u in _staff()}
    authors = set(db.session.scalars(select(Article.author_id).distinct()))
    assert authors == {team["jennifer.lee@support.test"].id}  # the admin authors the help centre
    on_call = db.session.scalars(select(OnCall)).all()
    assert len(on_call) == 7 and {e.user.role for e in on_call} == {Role.senior_agent}
    critical_by = db.session.scalars(
        select(TicketEvent.author_id).where(TicketEvent.field == "priority", TicketEvent.new_value == "critical")
    ).all()
    assert critical_by and set(critical_by) == {team["robert.taylor@support.test"].id}  # the manager raises it
    worked = db.session.scalars(select(Ticket).where(Ticket.status != "new")).all()
    assert worked
    for ticket in worked:  # the seed hands each worked story to a specialist of the ticket's tier
        assert ticket.assignee.tier == ticket.tier.value, ticket.subject
        assert ticket.category.slug in ticket.assignee.specializations, ticket.subject


def test_seeding_twice_changes_nothing():
    first = seed(echo=lambda *_: None)
    db.session.commit()
    assert first["users"] == 14 and first["users_corrected"] == 0 and first["tickets"] == 36
    before = _snapshot()
    again = seed(echo=lambda *_: None)
    db.session.commit()
    assert set(again.values()) == {0}, again
    assert _snapshot() == before


def test_seed_corrects_staff_left_by_an_older_seed(make_user):
    older = [
        ("Robert Taylor", Role.senior_agent, ShiftRegion.amer, "America/New_York", ["technical", "integration"]),
        ("Jennifer Lee", Role.agent, ShiftRegion.apac, "Australia/Sydney", ["data", "account"]),
        ("Alex Morgan", Role.admin, ShiftRegion.flexible, "UTC", []),
        ("Tom Baker", Role.agent, ShiftRegion.emea, "Europe/Dublin", ["account", "general"]),
    ]
    users = {}
    for name, role, shift, zone, specs in older:
        email = name.lower().replace(" ", ".") + "@support.test"
        users[name] = make_user(role, email=email, name=name, shift_region=shift, timezone=zone, specializations=specs)
    day = datetime(2026, 4, 7, tzinfo=UTC)
    for i in range(7):  # the older seed's on-call week over its senior agents
        db.session.add(
            OnCall(
                user_id=users["Robert Taylor"].id,
                starts_at=day + timedelta(days=i),
                ends_at=day + timedelta(days=i + 1),
            )
        )
    db.session.commit()

    result = seed(echo=lambda *_: None)
    db.session.commit()
    assert result["users"] == 10 and result["users_corrected"] == 4
    db.session.expire_all()
    assert {_row(u) for u in _staff()} == ROSTER
    assert authenticate("robert.taylor@support.test", PASSWORD) is not None  # a corrected user keeps its password
    on_call = db.session.scalars(select(OnCall)).all()
    assert len(on_call) == 7 and {e.user.role for e in on_call} == {Role.senior_agent}
    before = _snapshot()
    again = seed(echo=lambda *_: None)
    db.session.commit()
    assert set(again.values()) == {0}, again
    assert _snapshot() == before
