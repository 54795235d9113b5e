"""The support lines shown to customers: the viewer's regional line first, and open now / opens at, computed on the
server in the viewer's zone from a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask_login import login_user

from portal.blueprints.main.contact import SUPPORT_PHONES, support_lines
from portal.models import Role
from portal.services import phone_hours
from tests.conftest import login


def _support(app, user=None):
    with app.test_request_context():
        if user is not None:
            login_user(user)
        support, hotline = support_lines()
        return support, hotline


def _status(support, region):
    return next(n for n in support.numbers if n.region == region).status


def test_defaults_are_the_guides_lines(app):
    support, hotline = _support(app)
    assert [(n.region, n.display) for n in support.numbers] == [
        ("US", "+1-800-ESG-HELP"),
        ("UK", "+44-20-ESG-HELP"),
        ("AU", "+61-2-ESG-HELP"),
    ]
    assert support.hours == "Business hours: 8am–6pm local time, Monday to Friday"
    assert hotline.numbers[0].display == "+1-800-ESG-CRIT" and hotline.hours == "24/7/365"
    assert support.numbers[0].tel == "tel:+18003744357"


@pytest.mark.parametrize(
    ("region", "zone", "first"),
    [("EMEA", "UTC", "UK"), ("APAC", "UTC", "AU"), ("AMER", "Europe/Paris", "US"), (None, "Australia/Perth", "AU")],
)
def test_the_viewers_region_comes_first(app, make_org, make_user, region, zone, first):
    org = make_org(region=region)
    user = make_user(Role.customer, organization=org, timezone=zone)
    support, _ = _support(app, user)
    assert support.numbers[0].region == first and support.numbers[0].is_yours
    assert sum(n.is_yours for n in support.numbers) == 1
    assert len(support.numbers) == 3  # the others are still shown


def test_no_region_and_utc_shows_all_in_the_configured_order(app, make_user):
    user = make_user(Role.customer, timezone="UTC")
    support, _ = _support(app, user)
    assert [n.region for n in support.numbers] == ["US", "UK", "AU"] and not any(n.is_yours for n in support.numbers)


@time_machine.travel(datetime(2026, 3, 4, 14, 30, tzinfo=UTC), tick=False)  # Wednesday
def test_open_now_closes_at_in_the_viewers_zone(app, make_user):
    user = make_user(Role.customer, timezone="America/Los_Angeles")  # PST, UTC-8
    support, _ = _support(app, user)
    # New York is 09:30 EST: open until 18:00 EST = 15:00 in Los Angeles.
    assert _status(support, "US").text == "Open now (closes at 15:00 your time)"
    assert _status(support, "US").is_open
    # London is 14:30 GMT: open until 18:00 GMT = 10:00 in Los Angeles.
    assert _status(support, "UK").text == "Open now (closes at 10:00 your time)"
    # Sydney is 01:30 on Thursday (AEDT, UTC+11): opens 08:00 AEDT = 13:00 Wednesday in Los Angeles.
    assert _status(support, "AU").text == "Closed — opens at 13:00 your time"


@time_machine.travel(datetime(2026, 3, 4, 14, 30, tzinfo=UTC), tick=False)
def test_opens_tomorrow_in_an_eastern_viewer_zone(app, make_user):
    user = make_user(Role.customer, timezone="Asia/Tokyo")  # UTC+9: 23:30 Wednesday
    support, _ = _support(app, user)
    assert _status(support, "US").text == "Open now (closes tomorrow at 08:00 your time)"
    assert _status(support, "AU").text == "Closed — opens tomorrow at 06:00 your time"


def test_dst_edge_between_the_us_and_uk_changes(app, make_user):
    """The US moves its clocks on 8 March 2026, the UK on 29 March: in between, New York's 08:00 is 12:00 in
    London instead of 13:00."""
    user = make_user(Role.customer, timezone="Europe/London")
    with time_machine.travel(datetime(2026, 3, 2, 6, 0, tzinfo=UTC), tick=False):  # Monday, before the US change
        support, _ = _support(app, user)
        assert _status(support, "US").text == "Closed — opens at 13:00 your time"
    with time_machine.travel(datetime(2026, 3, 9, 6, 0, tzinfo=UTC), tick=False):  # Monday, after it
        support, _ = _support(app, user)
        assert _status(support, "US").text == "Closed — opens at 12:00 your time"
        assert _status(support, "UK").text == "Closed — opens at 08:00 your time"
    with time_machine.travel(datetime(2026, 3, 9, 21, 59, tzinfo=UTC), tick=False):  # 17:59 EDT
        support, _ = _support(app, user)
        assert _status(support, "US").text == "Open now (closes at 22:00 your time)"
    with time_machine.travel(datetime(2026, 3, 9, 22, 0, tzinfo=UTC), tick=False):  # 18:00 EDT: closed
        support, _ = _support(app, user)
        assert _status(support, "US").text == "Closed — opens tomorrow at 12:00 your time"


@time_machine.travel(datetime(2026, 3, 7, 12, 0, tzinfo=UTC), tick=False)  # Saturday
def test_weekends_are_closed_until_monday(app, make_user):
    user = make_user(Role.customer, timezone="Europe/London")
    support, hotline = _support(app, user)
    assert _status(support, "UK").text == "Closed — opens Monday at 08:00 your time"
    assert not _status(support, "UK").is_open
    # Monday 08:00 in Sydney is still Sunday evening in London (21:00 GMT).
    assert _status(support, "AU").text == "Closed — opens tomorrow at 21:00 your time"
    assert hotline.numbers[0].status is None  # the hotline is always open


@time_machine.travel(datetime(2026, 3, 4, 14, 30, tzinfo=UTC), tick=False)
def test_anonymous_viewers_see_utc(app):
    support, _ = _support(app)
    assert _status(support, "UK").text == "Open now (closes at 18:00 your time)"
    assert [n.region for n in support.numbers] == ["US", "UK", "AU"]


def test_settings_change_the_lines_and_hours(app, make_user):
    user = make_user(Role.customer, timezone="Europe/London")
    saved = {k: app.config[k] for k in ("PHONE_LINES", "PHONE_HOURS", "PHONE_DAYS")}
    app.config.update(
        PHONE_LINES="UK=+44-20-1234-5678", PHONE_HOURS="09:00-17:30", PHONE_DAYS="mon,tue,wed,thu,fri,sat"
    )
    try:
        with time_machine.travel(datetime(2026, 3, 7, 12, 0, tzinfo=UTC), tick=False):  # Saturday: open now
            support, _ = _support(app, user)
        assert [n.display for n in support.numbers] == ["+44-20-1234-5678"]
        assert support.hours == "Business hours: 9am–5:30pm local time, Monday to Saturday"
        assert support.numbers[0].status.text == "Open now (closes at 17:30 your time)"
    finally:
        app.config.update(saved)


def test_a_broken_hours_setting_falls_back_to_the_guide(app):
    assert phone_hours.parse_hours("nonsense") == phone_hours.DEFAULT_HOURS
    assert phone_hours.parse_hours("18:00-08:00") == phone_hours.DEFAULT_HOURS


def test_next_opening_across_a_long_weekend_of_days(app):
    hours = phone_hours.Hours(ZoneInfo("Europe/London"), *phone_hours.DEFAULT_HOURS, frozenset({0}))
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    assert hours.next_opening(friday) == datetime(2026, 3, 9, 8, 0, tzinfo=ZoneInfo("Europe/London"))


@time_machine.travel(datetime(2026, 3, 4, 14, 30, tzinfo=UTC), tick=False)
def test_new_ticket_page_shows_the_customers_line_first_with_its_status(client, make_org, make_user):
    org = make_org(region="APAC")
    user = make_user(Role.customer, organization=org, timezone="Australia/Sydney")
    login(client, user)
    page = client.get("/portal/tickets/new")
    assert page.status_code == 200
    text = page.text
    assert text.index("+61-2-ESG-HELP") < text.index("+1-800-ESG-HELP") < text.index("+44-20-ESG-HELP")
    assert "Your region" in text
    # 01:30 Thursday in Sydney: the AU line opens at 08:00, the UK line closed at 18:00 GMT = 05:00 AEDT.
    assert "Closed — opens at 08:00 your time" in text
    assert "+1-800-ESG-CRIT" in text


def test_support_phones_global_stays_iterable(app):
    with app.test_request_context():
        names = [line.name for line in SUPPORT_PHONES]
    assert names == ["Phone support", "Emergency hotline"]
