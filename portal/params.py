"""Strict reading of request parameters: one place that decides what a number, a choice, a date or a bit of text
in a query string (or a JSON body) may be.

Numbers are ASCII digits only (``"١٢"`` and ``"²"`` pass ``str.isdigit()`` but are refused here), with an optional
leading minus where the range allows it, at most 19 digits, and always inside a range that fits the database's
integer columns. A parameter sent twice (``?page=1&page=2``) is refused; ``?page[]=1`` is simply another name and
ignored. Every reader either returns the default (``lenient=True``, what pages do for paging and filters) or raises
``InvalidParameter`` (400 ``invalid_parameter``: an HTML error page, or JSON in the API)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, TypeVar

from flask import request

from portal.services.errors import ServiceError, ValidationFailed

T = TypeVar("T")

DB_INT_MAX = 2**31 - 1  # the largest value of an INTEGER column (ids, counts) on PostgreSQL
DB_BIGINT_MAX = 2**63 - 1
MAX_PAGE = 10_000  # no list is paged that far; OFFSET beyond this is a scan for nothing
MAX_TEXT = 500  # the longest single-line query parameter (search terms are cut shorter by their readers)

_INT = re.compile(r"-?[0-9]{1,19}")  # ASCII only: re's \d would accept every script's digits
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# C0 controls except tab, line feed and carriage return, plus DEL: never part of text people type.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidParameter(ServiceError):
    """A query parameter that is not one of the allowed values (400)."""

    status_code = 400
    code = "invalid_parameter"


# --------------------------------------------------------------------------- pure parsing (no request needed)


def parse_int(value: object, *, min: int | None = None, max: int | None = None) -> int | None:
    """``value`` as an int when it is a string of ASCII digits (optional leading ``-``) inside [min, max], else
    None. Surrounding spaces are ignored; ``"+1"``, ``"1e9"``, ``"1.5"``, ``"١٢"`` are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _INT.fullmatch(text):
            return None
        value = int(text)
    if min is not None and value < min:
        return None
    if max is not None and value > max:
        return None
    return value


def parse_id(value: object) -> int | None:
    """A database id (1 .. 2**31-1) from a string or int, else None."""
    return parse_int(value, min=1, max=DB_INT_MAX)


def parse_date(value: object) -> date | None:
    """An ISO date ``YYYY-MM-DD`` (ASCII digits, a real calendar day), else None."""
    if not isinstance(value, str):
        return None
    match = _DATE.fullmatch(value.strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def bad_text(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (a control character, invalid Unicode), else None."""
    if _SURROGATE.search(value):
        return "contains invalid Unicode"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def single_line(value: str) -> str:
    """``value`` on one line: every line break (CR, LF, U+2028/2029, NEL, VT, FF) and other control character is
    replaced by a space and runs of whitespace collapse to one. For mail headers and subjects."""
    return " ".join("".join(" " if (ch < " " or ch in "\x7f\x85\u2028\u2029") else ch for ch in value).split())


# --------------------------------------------------------------------------- request.args readers


def _args(args: Mapping | None):
    return request.args if args is None else args


def _one(name: str, args) -> str | None:
    """The single value of ``name`` (None when absent); sent more than once is refused."""
    getlist = getattr(args, "getlist", None)
    values = getlist(name) if getlist is not None else ([args[name]] if name in args else [])
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameter(f"Send the parameter '{name}' once.", {name: "Sent more than once."})
    value = values[0]
    if not isinstance(value, str):
        raise InvalidParameter(f"The parameter '{name}' must be text.", {name: "Not a single value."})
    return value


_SENT_TWICE = object()


def _raw(name: str, args: Mapping | None, lenient: bool):
    """The one value of ``name`` (None when absent); sent more than once: ``_SENT_TWICE`` when ``lenient``, else
    ``InvalidParameter``."""
    try:
        return _one(name, _args(args))
    except InvalidParameter:
        if lenient:
            return _SENT_TWICE
        raise


def _refuse_or_default(lenient: bool, default: T, name: str, message: str) -> T:
    if lenient:
        return default
    raise InvalidParameter(f"The parameter '{name}' is not valid: {message}", {name: message})


def int_param(
    name: str,
    default: T = None,
    *,
    min: int = 1,
    max: int = DB_INT_MAX,
    lenient: bool = False,
    args: Mapping | None = None,
) -> int | T:
    """The integer parameter ``name`` in [min, max] (absent or empty: ``default``). Anything else raises
    ``InvalidParameter``, or gives ``default`` when ``lenient``. ``max`` never exceeds the database's range."""
    max = _smaller(max, DB_BIGINT_MAX)
    raw = _raw(name, args, lenient)
    if raw is _SENT_TWICE:
        return default
    if raw is None or not raw.strip():
        return default
    value = parse_int(raw, min=min, max=max)
    if value is None:
        return _refuse_or_default(lenient, default, name, f"use a whole number from {min} to {max}.")
    return value


def page_param(name: str = "page", default: int = 1, *, lenient: bool = True, args: Mapping | None = None) -> int:
    """A page number, 1 .. ``MAX_PAGE``."""
    return int_param(name, default, min=1, max=MAX_PAGE, lenient=lenient, args=args)


def id_param(name: str, default: T = None, *, lenient: bool = False, args: Mapping | None = None) -> int | T:
    """A database id, 1 .. 2**31-1."""
    return int_param(name, default, min=1, max=DB_INT_MAX, lenient=lenient, args=args)


def choice_param(
    name: str,
    allowed: Iterable[str],
    default: T = None,
    *,
    lenient: bool = True,
    args: Mapping | None = None,
) -> str | T:
    """``name`` when it is one of ``allowed`` (absent or empty: ``default``); any other value gives ``default`` when
    ``lenient``, else raises ``InvalidParameter`` naming the allowed values."""
    allowed = list(allowed)
    raw = _raw(name, args, lenient)
    if raw is _SENT_TWICE:
        return default
    if raw is None or raw == "":
        return default
    if raw in allowed:
        return raw
    return _refuse_or_default(lenient, default, name, "choose one of: " + ", ".join(allowed) + ".")


def str_param(
    name: str,
    default: str = "",
    *,
    max_length: int = MAX_TEXT,
    lenient: bool = True,
    args: Mapping | None = None,
) -> str:
    """Single-line text, stripped and cut to ``max_length``; sent twice gives ``default`` (``lenient``) or 400.
    Control characters are refused for every request by ``portal.hardening``."""
    raw = _raw(name, args, lenient)
    if raw is _SENT_TWICE:
        return default
    if raw is None:
        return default
    return single_line(raw)[:max_length]


def date_param(name: str, default: T = None, *, lenient: bool = False, args: Mapping | None = None) -> date | T:
    """An ISO date ``YYYY-MM-DD`` (absent or empty: ``default``)."""
    raw = _raw(name, args, lenient)
    if raw is _SENT_TWICE:
        return default
    if raw is None or not raw.strip():
        return default
    value = parse_date(raw)
    if value is None:
        return _refuse_or_default(lenient, default, name, "use a date as YYYY-MM-DD.")
    return value


# --------------------------------------------------------------------------- JSON bodies


def json_int(value: Any, field: str, *, min: int = 1, max: int = DB_INT_MAX) -> int:
    """A JSON number that is an integer in [min, max] (``true``, ``1.0``, ``"1"`` are not); else a 422
    ``validation_failed`` naming ``field``."""
    max = _smaller(max, DB_BIGINT_MAX)
    if isinstance(value, bool) or not isinstance(value, int) or not min <= value <= max:
        raise ValidationFailed(f"{field} must be a whole number from {min} to {max}.", {field: "Use an integer."})
    return value


def _smaller(a: int, b: int) -> int:
    return a if a < b else b
