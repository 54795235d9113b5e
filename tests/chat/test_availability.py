"""Availability is computed on the server: the chat calendar's hours, agents' presence heartbeats, their seats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from portal.extensions import db
from portal.models.sla import Calendar, Holiday
from portal.services.chat import core
from tests.chat.conftest import online, open_chat

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in London (GMT in winter)


@pytest.fixture
def chat_hours(app):
    calendar = Calendar(
        name=app.config["CHAT_CALENDAR"],
        timezone="Europe/London",
        always_open=False,
        weekly_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    db.session.add(calendar)
    db.session.commit()
    return calendar


def test_open_only_in_the_chat_calendars_hours(app, cast, chat_hours):
    with time_machine.travel(MONDAY_10, tick=False):
        online(cast.agent)
        assert core.availability() == core.Availability(True, "open")
    evening = MONDAY_10.replace(hour=17, minute=30)
    with time_machine.travel(evening, tick=False):
        online(cast.agent)  # present, but the hours are over
        assert core.availability() == core.Availability(False, "closed")
    saturday = MONDAY_10 + timedelta(days=5)
    with time_machine.travel(saturday, tick=False):
        online(cast.agent)
        assert core.availability().reason == "closed"


def test_a_holiday_closes_the_chat(app, cast, chat_hours):
    db.session.add(Holiday(calendar=chat_hours, day=MONDAY_10.date(), name="Closed"))
    db.session.commit()
    with time_machine.travel(MONDAY_10, tick=False):
        online(cast.agent)
        assert core.availability().reason == "closed"


def test_without_a_chat_calendar_chat_follows_presence_alone(app, cast):
    with time_machine.travel(MONDAY_10.replace(hour=3), tick=False):
        assert core.availability() == core.Availability(False, "busy")
        online(cast.agent)
        assert core.availability().open


def test_presence_times_out_without_heartbeats(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_PRESENCE_TIMEOUT_SECONDS", 45)
    with time_machine.travel(MONDAY_10, tick=False):
        online(cast.agent)
    with time_machine.travel(MONDAY_10 + timedelta(seconds=44), tick=False):
        assert core.availability().open
    with time_machine.travel(MONDAY_10 + timedelta(seconds=40), tick=False):
        core.heartbeat(cast.agent)
        db.session.commit()
    with time_machine.travel(MONDAY_10 + timedelta(seconds=84), tick=False):
        assert core.availability().open  # the heartbeat at +40 s holds until +85 s
    with time_machine.travel(MONDAY_10 + timedelta(seconds=86), tick=False):
        assert core.availability() == core.Availability(False, "busy")


def test_away_and_non_agents_do_not_count(app, cast):
    with time_machine.travel(MONDAY_10, tick=False):
        online(cast.agent)
        core.set_presence(cast.agent, "away")
        db.session.commit()
        assert not core.availability().open
        with pytest.raises(core.Forbidden):
            core.set_presence(cast.manager, "online")
        with pytest.raises(core.Forbidden):
            core.set_presence(cast.a1, "online")
        cast.agent.is_active_account = False
        core.set_presence(cast.senior, "online")
        db.session.commit()
        assert [u.id for u in core.free_agents(MONDAY_10)] == [cast.senior.id]


def test_full_seats_make_chat_unavailable(app, cast, monkeypatch):
    monkeypatch.setitem(app.config, "CHAT_SEATS", 2)
    with time_machine.travel(MONDAY_10, tick=False):
        online(cast.agent)
        for visitor in (cast.a1, cast.a2):
            core.accept(cast.agent, open_chat(visitor).id)
            db.session.commit()
        assert core.availability() == core.Availability(False, "busy")
        with pytest.raises(core.ValidationFailed):
            open_chat(cast.b1)  # nobody free: the visitor is offered the ticket form instead
        db.session.rollback()
        core.presence_of(cast.agent).seats = 3  # this agent's own seat count
        db.session.commit()
        assert core.availability().open
