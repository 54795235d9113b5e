"""How customers reach support by phone, the lines, numbers and hours: kept here once and shown wherever a page tells
customers to call (template global ``support_phones``)."""

from __future__ import annotations

from dataclasses import dataclass

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
SUPPORT_PHONES = (PHONE_SUPPORT, EMERGENCY_HOTLINE)
