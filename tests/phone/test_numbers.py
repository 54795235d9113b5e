"""Phone numbers in one form (E.164) and finding callers by number or address, duplicates included."""

from __future__ import annotations

import pytest

from portal.models import Role
from portal.services.phone import find_callers, format_duration, normalize_number, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+44 20 7946 0000", "+442079460000"),
        ("+1 (555) 010-2030", "+15550102030"),
        ("+1.555.010.2030", "+15550102030"),
        ("0044 20 7946 0000", "+442079460000"),
        ("+44 (0)20 7946 0000", "+442079460000"),
        ("tel:+61-2-9999-0000", "+61299990000"),
        ("  +61 2 9999 0000  ", "+61299990000"),
        ("+683 4002", "+6834002"),  # seven digits: the shortest in use
        ("020 7946 0000", None),  # national: which country?
        ("+1-800-ESG-HELP", None),
        ("+44 20 7946 0000 ext 12", None),
        ("+0 20 7946 0000", None),
        ("+1234", None),
        ("+1234567890123456", None),  # sixteen digits
        ("+1 (555 010 2030", None),
        ("+1 ((555)) 010 2030", None),
        ("+١٢٣٤٥٦٧٨٩", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_number(text, expected):
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", 0),
        ("4:05", 245),
        ("0:59", 59),
        ("1:02:30", 3750),
        ("5", 300),
        ("2.5", 150),
        ("5 min", 300),
        ("90:00", 5400),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-3", "-0:30", "4:75", "soon", "25:00:00", "1e3"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration():
    assert format_duration(245) == "4:05" and format_duration(0) == "0:00"


def test_find_callers_by_number_returns_every_match_customers_first(make_user):
    staff = make_user(Role.agent, name="Aaron Agent", phone="+442079460000")
    b = make_user(Role.customer, name="Bea", phone="+442079460000")
    a = make_user(Role.customer, name="abe", phone="+442079460000")
    make_user(Role.customer, name="Gone", phone="+442079460000", is_active_account=False)
    make_user(Role.customer, name="Else", phone="+15550102030")
    assert find_callers("+44 (0)20 7946-0000") == [a, b, staff]


def test_find_callers_by_email_ignores_case(make_user):
    user = make_user(Role.customer, email="Dana@Example.test")
    assert find_callers(" dana@example.TEST ") == [user]
    assert find_callers("nobody@example.test") == []


def test_find_callers_with_nothing_usable(make_user):
    make_user(Role.customer, phone="+442079460000")
    assert find_callers("") == [] and find_callers("020 7946 0000") == [] and find_callers(None) == []
