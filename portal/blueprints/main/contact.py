"""How customers reach support by phone, the lines, numbers and hours: built from the phone settings
(``PHONE_*`` in portal/config.py) and shown wherever a page tells customers to call (template global
``support_phones``). The viewer's own regional line comes first, with whether it is open now, told in the viewer's
time zone (the rules are in portal/services/phone_hours.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_login import current_user

from portal.models import utcnow
from portal.services import phone_hours
from portal.services.phone_hours import Hours, LineStatus
from portal.timezones import viewer_zone

# Letters on a phone keypad, for the vanity numbers (ESG-HELP is 374-4357).
_KEYPAD = {
    letter: digit
    for digit, letters in {
        "2": "ABC",
        "3": "DEF",
        "4": "GHI",
        "5": "JKL",
        "6": "MNO",
        "7": "PQRS",
        "8": "TUV",
        "9": "WXYZ",
    }.items()
    for letter in letters
}


@dataclass(frozen=True)
class PhoneNumber:
    region: str  # "" when the number is not regional
    display: str  # as printed, e.g. "+1-800-ESG-HELP"
    status: LineStatus | None = None  # open now / opens at, in the viewer's zone (None: always open)
    is_yours: bool = False  # the line of the viewer's region

    @property
    def digits(self) -> str:
        """The number as dialled on a keypad without letters, e.g. "+1-800-374-4357"."""
        return "".join(_KEYPAD.get(ch, ch) for ch in self.display.upper())

    @property
    def tel(self) -> str:
        """A ``tel:`` URI (RFC 3966 takes digits only, so the letters are converted)."""
        return "tel:+" + "".join(ch for ch in self.digits if ch.isdigit())


@dataclass(frozen=True)
class PhoneLine:
    name: str
    purpose: str
    hours: str
    numbers: tuple[PhoneNumber, ...]


# The lines as the support guide prints them (the defaults of the PHONE_* settings). Pages show ``support_lines()``,
# built from the settings for the viewer; these stay for code that needs the guide's wording without an app.
PHONE_SUPPORT = PhoneLine(
    name="Phone support",
    purpose="For critical issues",
    hours="Business hours: 8am–6pm local time",
    numbers=(
        PhoneNumber("US", "+1-800-ESG-HELP"),
        PhoneNumber("UK", "+44-20-ESG-HELP"),
        PhoneNumber("AU", "+61-2-ESG-HELP"),
    ),
)
EMERGENCY_HOTLINE = PhoneLine(
    name="Emergency hotline",
    purpose="For critical system outages",
    hours="24/7/365",
    numbers=(PhoneNumber("", "+1-800-ESG-CRIT"),),
)


def support_lines(now=None) -> tuple[PhoneLine, ...]:
    """The phone support line (the viewer's region first) and the emergency hotline, for this viewer now."""
    config = current_app.config
    now = now or utcnow()
    org_region = zone_name = None
    viewer = ZoneInfo("UTC")
    if has_request_context():
        viewer = viewer_zone()
        if current_user and current_user.is_authenticated:
            organization = getattr(current_user, "organization", None)
            org_region = organization.region if organization is not None else None
            zone_name = current_user.timezone
    yours = phone_hours.viewer_line(config, org_region=org_region, zone_name=zone_name)
    opens, closes = phone_hours.parse_hours(config["PHONE_HOURS"])
    days = phone_hours.parse_days(config["PHONE_DAYS"])
    zones = phone_hours.parse_pairs(config["PHONE_LINE_ZONES"])
    numbers = []
    for region, display in phone_hours.parse_pairs(config["PHONE_LINES"]).items():
        zone = phone_hours.zone_or_none(zones.get(region)) or viewer
        status = phone_hours.line_status(Hours(zone, opens, closes, days), now, viewer)
        numbers.append(PhoneNumber(region, display, status=status, is_yours=region == yours))
    numbers.sort(key=lambda number: not number.is_yours)  # stable: the configured order otherwise
    support = PhoneLine(
        name=PHONE_SUPPORT.name,
        purpose=PHONE_SUPPORT.purpose,
        hours=phone_hours.hours_description(opens, closes, days),
        numbers=tuple(numbers),
    )
    hotline = PhoneLine(
        name=EMERGENCY_HOTLINE.name,
        purpose=EMERGENCY_HOTLINE.purpose,
        hours=EMERGENCY_HOTLINE.hours,
        numbers=(PhoneNumber("", config["PHONE_EMERGENCY_NUMBER"]),),
    )
    return (support, hotline)


class _SupportPhones:
    """The template global: iterating it builds the lines for the current viewer and instant, so templates keep
    writing ``{% for line in support_phones %}``."""

    def __iter__(self) -> Iterator[PhoneLine]:
        return iter(support_lines())


SUPPORT_PHONES = _SupportPhones()
