"""Helpers shared by the page blueprints: role guards, paging and form-to-service glue."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user, login_required

from portal.extensions import db
from portal.models import Role, Ticket
from portal.params import page_param
from portal.services.access import get_ticket_for
from portal.services.errors import ServiceError

T = TypeVar("T")


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
    """``?page=``, 1 .. ``params.MAX_PAGE``; anything else (not ASCII digits, out of range, sent twice): ``default``."""
    return page_param("page", default)


def make_page(rows: Iterable, number: int, size: int) -> Page:
    rows = list(rows)
    return Page(items=rows[:size], number=number, size=size, has_next=len(rows) > size)


def attempt(call: Callable[[], T]) -> tuple[T | None, ServiceError | None]:
    """Run one service call for a view. When the service refuses (invalid input, not allowed, a stale version),
    nothing it did is kept: the session is rolled back and the refusal returned for the view to re-render."""
    try:
        return call(), None
    except ServiceError as exc:
        db.session.rollback()
        return None, exc


def attempt_on_ticket(reference: str, change: Callable[[Ticket], T]) -> tuple[Ticket, T | None, ServiceError | None]:
    """Load ``reference`` for the signed-in user (404/403 as for any page) and run one service change on it. On a
    refusal the session is rolled back and the ticket reloaded, so the view re-renders the fresh state."""
    ticket = get_ticket_for(current_user, reference)
    result, refused = attempt(lambda: change(ticket))
    if refused is not None:
        ticket = get_ticket_for(current_user, reference)
    return ticket, result, refused


def show_errors(form, refused: ServiceError) -> None:
    """Put a service's field messages on the form's fields (a message for no field goes to the first one)."""
    for name, message in (refused.fields or {}).items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [message]
