"""Helpers shared by the page blueprints: role guards, paging and form-to-service glue."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from flask import abort, request
from flask_login import current_user, login_required

from portal.models import Role


def roles_required(*roles: Role) -> Callable:
    """Login required (anonymous users are redirected to the login page), then one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


customer_required = roles_required(Role.customer)
staff_required = roles_required(Role.agent, Role.senior_agent, Role.manager, Role.admin)
admin_required = roles_required(Role.admin, Role.manager)


@dataclass
class Page:
    """A page of rows fetched with LIMIT size+1, so no COUNT(*) is needed to know whether a next page exists."""

    items: list
    number: int
    size: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


def page_number(default: int = 1) -> int:
    try:
        return max(1, min(int(request.args.get("page", default)), 100_000))
    except (TypeError, ValueError):
        return default


def make_page(rows: Iterable, number: int, size: int) -> Page:
    rows = list(rows)
    return Page(items=rows[:size], number=number, size=size, has_next=len(rows) > size)
