"""Input checked at the edge, before any view runs: text with control characters or invalid Unicode in the query
string, a form or a JSON body is refused (400 for a query string, 422 for a form or JSON body), JSON nesting is
capped, a body that is not JSON under a JSON content type is a 400, and ids in paths are bounded to the database's
integer range (an id beyond it is a 404, never a database error)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from portal.params import DB_INT_MAX, InvalidParameter, bad_text
from portal.services.errors import ValidationFailed

MAX_JSON_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` for ids: ASCII digits only (werkzeug's ``\\d`` takes any script's digits) and at most 2**31-1,
    so ``/admin/users/99999999999999999999`` is a 404 rather than an overflow in the database driver."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=DB_INT_MAX if max is None else max)


class TooDeep(ValueError):
    pass


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), without recursion."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class StrictJSONProvider(DefaultJSONProvider):
    """``loads`` refuses nesting deeper than ``MAX_JSON_DEPTH`` (a ``ValueError``, which ``request.get_json`` turns
    into a 400) instead of letting the parser recurse into a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_depth(s) > MAX_JSON_DEPTH:
            raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return json.loads(s, **kwargs)


def _bad_strings(value: Any, path: str, found: dict[str, str]) -> None:
    """Every string (keys too) in a parsed JSON value that cannot be stored; depth is already capped."""
    if isinstance(value, str):
        problem = bad_text(value)
        if problem:
            found[path or "body"] = f"This text {problem}."
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = bad_text(key)
            if problem:
                found[f"{path}.{key!a}".lstrip(".")] = f"This field name {problem}."
                continue
            _bad_strings(item, f"{path}.{key}".lstrip("."), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _bad_strings(item, f"{path}[{index}]", found)


def _check_query_string() -> None:
    for name, value in request.args.items(multi=True):
        for text, what in ((name, "name"), (value, "value")):
            problem = bad_text(text)
            if problem:
                shown = name if what == "value" else ascii(name)
                raise InvalidParameter(
                    f"The query parameter {what} {shown!s} {problem}.", {ascii(name)[1:-1]: f"This {what} {problem}."}
                )


def _check_form() -> None:
    fields = {}
    for name, value in request.form.items(multi=True):
        problem = bad_text(name) or bad_text(value)
        if problem:
            fields[ascii(name)[1:-1]] = f"This field {problem}; remove it and try again."
    if fields:
        raise ValidationFailed("Some text cannot be saved: " + ", ".join(sorted(fields)) + ".", fields)


def _check_json() -> None:
    if not request.get_data(cache=True):
        return
    try:
        data = request.get_json(cache=True)  # parsed once; the view's get_json() gets the cached value
    except BadRequest:
        raise InvalidJSON() from None
    found: dict[str, str] = {}
    _bad_strings(data, "", found)
    if found:
        raise ValidationFailed("Some text cannot be saved: " + ", ".join(sorted(found)) + ".", found)


class InvalidJSON(InvalidParameter):
    code = "invalid_json"

    def __init__(self):
        super().__init__(
            f"The body is not valid JSON (or is nested deeper than {MAX_JSON_DEPTH} levels).", {"body": "Invalid JSON."}
        )


def check_request() -> None:
    """The before-request check (also usable on its own in tests)."""
    if any(isinstance(v, str) and bad_text(v) for v in (request.view_args or {}).values()):
        abort(404)  # no slug, reference or token of ours holds a control character (PostgreSQL refuses NUL)
    _check_query_string()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            _check_json()
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            _check_form()


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered (the converter applies to rules added afterwards)."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.json_provider_class = StrictJSONProvider
    app.json = StrictJSONProvider(app)
    app.before_request(check_request)
