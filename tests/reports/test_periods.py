"""Report periods: local midnights in the reporting zone, DST-length months, ISO weeks, clear refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.models import Role
from portal.services import reports
from portal.services.reports import Period, PeriodError
from tests.reports.conftest import at

LONDON = "Europe/London"


def test_a_month_holding_a_dst_change_is_743_or_745_hours_long():
    march, october = Period.month(date(2026, 3, 17), LONDON), Period.month(date(2026, 10, 2), LONDON)
    assert (march.hours, march.days) == (743, 31)
    assert (october.hours, october.days) == (745, 31)
    assert Period.month(date(2026, 3, 17), "UTC").hours == 744
    assert march.start == datetime(2026, 3, 1, tzinfo=UTC)  # GMT
    assert march.end == datetime(2026, 3, 31, 23, tzinfo=UTC)  # BST midnight of 1 April
    assert Period.day(date(2026, 3, 29), LONDON).hours == 23
    assert Period.day(date(2026, 10, 25), LONDON).hours == 25


def test_weeks_start_on_monday_and_days_count_calendar_dates():
    week = Period.iso_week(date(2026, 3, 29), LONDON)  # a Sunday
    assert (week.start_date, week.end_date, week.days) == (date(2026, 3, 23), date(2026, 3, 30), 7)
    assert week.hours == 7 * 24 - 1
    assert Period.containing("month", date(2026, 12, 31)).end_date == date(2027, 1, 1)
    assert Period.last_days(30, at(15, 10), "UTC").start_date == date(2026, 2, 13)


def test_the_default_zone_is_the_configured_report_timezone(app):
    assert Period(date(2026, 3, 1), date(2026, 3, 2)).zone_name == "UTC"
    app.config["REPORT_TIMEZONE"] = "America/New_York"
    try:
        assert Period(date(2026, 3, 1), date(2026, 3, 2)).start == datetime(2026, 3, 1, 5, tzinfo=UTC)
    finally:
        app.config["REPORT_TIMEZONE"] = "UTC"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("2026-13-01", "2026-04-01", "UTC"), "from"),
        (("", "2026-04-01", "UTC"), "from"),
        (("2026-03-01", "tomorrow", "UTC"), "to"),
        (("2026-03-01", "2026-03-01", "UTC"), "to"),
        (("2026-04-01", "2026-03-01", "UTC"), "to"),
        (("2026-03-01", "2026-04-01", "Mars/Olympus"), "tz"),
        (("2026-03-01", "2026-04-01", "../etc/passwd"), "tz"),
        (("0001-01-01", "2026-04-01", "UTC"), "from"),
    ],
)
def test_bad_periods_are_refused_with_a_message_naming_the_parameter(args, field):
    with pytest.raises(PeriodError) as caught:
        Period.parse(*args)
    assert field in caught.value.fields and caught.value.message


def test_events_just_before_and_after_local_midnight_fall_in_their_own_day(history, make_user):
    """In London, 30 March 2026 starts at 23:00 UTC on the 29th (summer time began that morning)."""
    agent = make_user(Role.agent)
    before = history.ticket(datetime(2026, 3, 29, 22, 59, 59, 999999, tzinfo=UTC))  # 23:59:59.999999 BST
    after = history.ticket(datetime(2026, 3, 29, 23, 0, tzinfo=UTC))  # 00:00 BST on the 30th
    history.reply(before, datetime(2026, 3, 29, 23, 0, tzinfo=UTC), agent)
    late = history.ticket(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))  # 00:30 BST on 1 April
    now = datetime(2026, 4, 5, tzinfo=UTC)
    sunday, monday = Period.day(date(2026, 3, 29), LONDON), Period.day(date(2026, 3, 30), LONDON)
    assert reports.tickets_behind("tickets_created", sunday, now) == [before.id]
    assert reports.tickets_behind("tickets_created", monday, now) == [after.id]
    assert reports.tickets_behind("first_responses", monday, now) == [before.id]
    assert reports.summary(sunday, now)["avg_first_response_minutes"] is None
    london_march = Period.month(date(2026, 3, 1), LONDON)
    utc_march = Period.month(date(2026, 3, 1), "UTC")
    assert late.id not in reports.tickets_behind("tickets_created", london_march, now)
    assert late.id in reports.tickets_behind("tickets_created", utc_march, now)
    april = Period(date(2026, 4, 1), date(2026, 4, 2), LONDON)
    assert reports.tickets_behind("tickets_created", april, now) == [late.id]
    minutes = reports.summary(monday, now)["avg_first_response_minutes"]
    assert minutes == pytest.approx(timedelta(microseconds=1).total_seconds() / 60)  # sub-second precision kept
