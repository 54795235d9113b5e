"""Scheduled maintenance windows: created by managers and admins (times entered in the editor's zone, stored in
UTC), shown on the status page as scheduled / in progress / completed purely from the clock (a window ends on time
by itself), cancelled by hand. While a window runs, notifications about the components it names — only those — are
suppressed (``suppressed_components``)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Component, Maintenance, MaintenanceComponent, User, utcnow
from portal.services import audit, outbox
from portal.services.errors import NotFound, ValidationFailed
from portal.services.roster import parse_local

TITLE_MAX = 200
BODY_MAX = 5000
LONGEST_WINDOW = timedelta(days=14)
NOTICE_LATE_LIMIT = timedelta(days=1)  # a start or end the periodic task missed by longer is not announced any more


class Phase(str, enum.Enum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"

    @property
    def label(self) -> str:
        return {
            "scheduled": "Scheduled",
            "in_progress": "In progress",
            "completed": "Completed",
            "cancelled": "Cancelled",
        }[self.value]


def phase(window: Maintenance, at: datetime | None = None) -> Phase:
    """Where the window stands at ``at`` (now): from the clock alone, so it ends on time without any job."""
    at = at or utcnow()
    if window.cancelled_at is not None:
        return Phase.cancelled
    if at < window.starts_at:
        return Phase.scheduled
    if at < window.ends_at:
        return Phase.in_progress
    return Phase.completed


def suppressed_components(at: datetime | None = None) -> set[int]:
    """Ids of the components named by a (not cancelled) window running at ``at``: notifications about these
    components are held back while it runs."""
    at = at or utcnow()
    return set(
        db.session.scalars(
            select(MaintenanceComponent.component_id)
            .join(Maintenance, Maintenance.id == MaintenanceComponent.maintenance_id)
            .where(Maintenance.cancelled_at.is_(None), Maintenance.starts_at <= at, Maintenance.ends_at > at)
        )
    )


def all_suppressed(component_ids: set[int] | list[int], at: datetime | None = None) -> bool:
    """Every one of ``component_ids`` is under a running window (an empty set is never suppressed)."""
    wanted = set(component_ids)
    return bool(wanted) and wanted <= suppressed_components(at)


def component_ids_of(window_ids: list[int]) -> dict[int, list[int]]:
    """{window id: [component id, ...]} for ``window_ids`` in one query."""
    result: dict[int, list[int]] = {i: [] for i in window_ids}
    if window_ids:
        rows = db.session.execute(
            select(MaintenanceComponent.maintenance_id, MaintenanceComponent.component_id)
            .where(MaintenanceComponent.maintenance_id.in_(window_ids))
            .order_by(MaintenanceComponent.id)
        )
        for window_id, component_id in rows:
            result[window_id].append(component_id)
    return result


def windows(*, since: datetime | None = None, include_cancelled: bool = True, limit: int = 200) -> list[Maintenance]:
    """Windows ending after ``since`` (all when None), soonest start first."""
    query = select(Maintenance).order_by(Maintenance.starts_at, Maintenance.id).limit(limit)
    if since is not None:
        query = query.where(Maintenance.ends_at > since)
    if not include_cancelled:
        query = query.where(Maintenance.cancelled_at.is_(None))
    return list(db.session.scalars(query))


def get_window(window_id: int) -> Maintenance:
    window = db.session.get(Maintenance, window_id)
    if window is None:
        raise NotFound("No such maintenance window.")
    return window


def _components(raw_ids, errors: dict[str, str]) -> list[Component]:
    ids: set[int] = set()
    for raw in raw_ids or []:
        text = str(raw).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            errors["components"] = "Choose components from the list."
            return []
        ids.add(int(text))
    found = list(db.session.scalars(select(Component).where(Component.id.in_(ids)))) if ids else []
    if len(found) != len(ids):
        errors["components"] = "Choose components from the list."
    elif not found:
        errors["components"] = "Choose at least one component."
    return found


def schedule(
    actor: User, *, title: str, body: str, starts: str, ends: str, component_ids, zone: str = "UTC"
) -> Maintenance:
    """A new window; ``starts``/``ends`` are ``datetime-local`` values in ``zone`` (the editor's)."""
    errors: dict[str, str] = {}
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        errors["title"] = "Give the window a title."
    elif len(title) > TITLE_MAX or "\n" in title or "\r" in title:
        errors["title"] = f"One line of at most {TITLE_MAX} characters."
    if len(body) > BODY_MAX:
        errors["body"] = f"At most {BODY_MAX} characters."
    start = parse_local(starts, zone, "starts_at", errors)
    end = parse_local(ends, zone, "ends_at", errors)
    if start is not None and end is not None:
        if end <= start:
            errors["ends_at"] = "The end must be after the start."
        elif end - start > LONGEST_WINDOW:
            errors["ends_at"] = "A window lasts at most 14 days."
    components = _components(component_ids, errors)
    if errors:
        raise ValidationFailed("The maintenance window was not saved.", errors)
    window = Maintenance(
        title=title, body=body, starts_at=start, ends_at=end, created_by_id=actor.id, created_at=utcnow()
    )
    db.session.add(window)
    db.session.flush()
    for component in components:
        db.session.add(MaintenanceComponent(maintenance_id=window.id, component_id=component.id))
    audit.record(
        "status.maintenance",
        target=window,
        before={},
        after={"starts_at": start, "ends_at": end, "components": sorted(c.id for c in components)},
        detail="scheduled",
        actor=actor,
    )
    db.session.flush()
    _notice(window, "scheduled")
    return window


def cancel(actor: User, window_id: int) -> Maintenance:
    """Cancel a window that has not ended (a completed window is history and stays)."""
    window = get_window(window_id)
    if window.cancelled_at is not None:
        return window
    if phase(window) is Phase.completed:
        raise ValidationFailed("This window has already ended.", {"window": "A completed window cannot be cancelled."})
    window.cancelled_at = utcnow()
    audit.record(
        "status.maintenance",
        target=window,
        before={"cancelled_at": None},
        after={"cancelled_at": window.cancelled_at},
        detail="cancelled",
        actor=actor,
    )
    db.session.flush()
    _notice(window, "cancelled")
    return window


# --------------------------------------------------------------------------- notices to subscribers

NOTICE_PHASES = ("scheduled", "started", "completed", "cancelled")


def _notice(window: Maintenance, notice: str) -> bool:
    """One ``status.maintenance`` outbox row per window and notice, however often this runs; True when new."""
    message = outbox.emit(
        "status.maintenance",
        {"window_id": window.id, "notice": notice},
        dedupe_key=f"status.maintenance:{window.id}:{notice}",
    )
    return message.id is None


def announce_due(now: datetime | None = None) -> int:
    """The periodic task: a "started" notice for each window that is running and a "completed" one for each that
    has ended (each once: the outbox dedupe key), for windows not cancelled and at most NOTICE_LATE_LIMIT late. A
    window entered after it ended (history) is not announced. Flushes; the caller commits."""
    now = now or utcnow()
    emitted = 0
    rows = db.session.scalars(
        select(Maintenance).where(
            Maintenance.cancelled_at.is_(None),
            Maintenance.starts_at <= now,
            Maintenance.ends_at > now - NOTICE_LATE_LIMIT,
            Maintenance.created_at < Maintenance.ends_at,
        )
    )
    for window in rows:
        current = phase(window, now)
        if current is Phase.in_progress and now - window.starts_at <= NOTICE_LATE_LIMIT:
            emitted += _notice(window, "started")
        elif current is Phase.completed:
            emitted += _notice(window, "completed")
    db.session.flush()
    return emitted
