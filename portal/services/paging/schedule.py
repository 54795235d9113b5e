"""Who is on call: the rotation (``OnCall`` rows with a level) and the overrides over it.

The effective primary (or secondary) at an instant is the newest override covering it, else the rotation entry
covering it (the latest-starting one, as routing reads it). Only active accounts count: a disabled account's entries
and overrides are skipped, so the next rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import OnCall, Role, User, utcnow
from portal.models.paging import OnCallLevel, OnCallOverride
from portal.services import audit
from portal.services.errors import Forbidden, NotFound, ValidationFailed
from portal.services.roster import parse_local

EDITORS = (Role.manager, Role.admin)
PAGEABLE_ROLES = (Role.agent, Role.senior_agent, Role.manager, Role.admin)
HORIZON = timedelta(days=14)  # how far the "next" look-ahead reads


@dataclass(frozen=True)
class Cover:
    """Who holds a level over a stretch of time, and by which rule."""

    level: OnCallLevel
    user: User | None
    source: str  # "override", "rotation" or "" (nobody)
    starts_at: datetime
    ends_at: datetime | None  # None: nothing known changes it within the horizon


def can_edit(user) -> bool:
    return bool(getattr(user, "is_authenticated", True)) and getattr(user, "role", None) in EDITORS


def _rows(level: OnCallLevel, start: datetime, end: datetime) -> tuple[list[OnCallOverride], list[OnCall]]:
    active = (User.is_active_account.is_(True), User.is_approved.is_(True))
    overrides = list(
        db.session.scalars(
            select(OnCallOverride)
            .join(User, User.id == OnCallOverride.user_id)
            .where(
                OnCallOverride.level == level, OnCallOverride.ends_at > start, OnCallOverride.starts_at < end, *active
            )
        )
    )
    entries = list(
        db.session.scalars(
            select(OnCall)
            .join(User, User.id == OnCall.user_id)
            .where(OnCall.level == level, OnCall.ends_at > start, OnCall.starts_at < end, *active)
        )
    )
    return overrides, entries


def _pick(overrides, entries, at: datetime):
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    if covering:
        return max(covering, key=lambda o: (o.created_at, o.id)), "override"
    covering = [e for e in entries if e.starts_at <= at < e.ends_at]
    if covering:
        return min(covering, key=lambda e: (-e.starts_at.timestamp(), e.id)), "rotation"
    return None, ""


def effective(level: OnCallLevel | str, at: datetime | None = None) -> User | None:
    """The person who holds ``level`` at ``at`` (override first, then the rotation), or None."""
    level, at = OnCallLevel(level), at or utcnow()
    row, _source = _pick(*_rows(level, at, at + timedelta(microseconds=1)), at)
    return row.user if row is not None else None


def timeline(level: OnCallLevel | str, now: datetime | None = None, horizon: timedelta = HORIZON) -> list[Cover]:
    """The level's holders from ``now`` on, one ``Cover`` per stretch (adjacent stretches of one person by one rule
    are merged); the first is who holds it now (possibly nobody)."""
    level, now = OnCallLevel(level), now or utcnow()
    end = now + horizon
    overrides, entries = _rows(level, now, end)
    edges = {now}
    for row in (*overrides, *entries):
        edges.update(t for t in (row.starts_at, row.ends_at) if now < t < end)
    points = sorted(edges)
    covers: list[Cover] = []
    for i, at in enumerate(points):
        row, source = _pick(overrides, entries, at)
        user = row.user if row is not None else None
        until = points[i + 1] if i + 1 < len(points) else None
        last = covers[-1] if covers else None
        if last is not None and last.source == source and (last.user and last.user.id) == (user and user.id):
            covers[-1] = Cover(level, user, source, last.starts_at, until)
        else:
            covers.append(Cover(level, user, source, at, until))
    return covers


def now_and_next(now: datetime | None = None) -> dict[str, tuple[Cover, Cover | None]]:
    """Per level: who holds it now (until when) and who takes it next."""
    result = {}
    for level in OnCallLevel:
        covers = timeline(level, now)
        result[level.value] = (covers[0], covers[1] if len(covers) > 1 else None)
    return result


def upcoming_rotation(now: datetime | None = None, limit: int = 30) -> list[OnCall]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(OnCall).where(OnCall.ends_at > now).order_by(OnCall.starts_at, OnCall.level, OnCall.id).limit(limit)
        )
    )


def upcoming_overrides(now: datetime | None = None, limit: int = 50) -> list[OnCallOverride]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(OnCallOverride)
            .where(OnCallOverride.ends_at > now)
            .order_by(OnCallOverride.starts_at, OnCallOverride.id)
            .limit(limit)
        )
    )


def pageable_staff() -> list[User]:
    """Active staff who may hold an on-call level (the override form's choices)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_(PAGEABLE_ROLES), User.is_active_account.is_(True), User.is_approved.is_(True))
            .order_by(User.name, User.id)
        )
    )


def add_override(
    actor: User, *, level: str, user_id, starts: str, ends: str, note: str = "", zone: str = "UTC"
) -> OnCallOverride:
    """``user_id`` covers ``level`` from ``starts`` to ``ends`` (``datetime-local`` values in ``zone``). Managers and
    admins only; the person must be active staff; the end must come after the start."""
    if not can_edit(actor):
        raise Forbidden("Only managers and admins change the on-call schedule.")
    errors: dict[str, str] = {}
    try:
        level_obj = OnCallLevel(level)
    except ValueError:
        level_obj = None
        errors["level"] = "Choose primary or secondary."
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None or user.role not in PAGEABLE_ROLES or not user.is_active:
        errors["user_id"] = "Choose an active staff member."
    start = parse_local(starts, zone, "starts_at", errors)
    end = parse_local(ends, zone, "ends_at", errors)
    if start and end and end <= start:
        errors["ends_at"] = "The end must be after the start."
    if end and end <= utcnow():
        errors.setdefault("ends_at", "The override would already be over.")
    if errors:
        raise ValidationFailed("The override was not saved.", errors)
    override = OnCallOverride(
        level=level_obj,
        user_id=user.id,
        starts_at=start,
        ends_at=end,
        note=" ".join((note or "").split())[:200],
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.session.add(override)
    db.session.flush()
    audit.record(
        "settings.roster",
        target=override,
        target_label=user.email,
        after={"level": level_obj.value, "user": user.id, "starts_at": start, "ends_at": end},
        detail="override added",
        actor=actor,
    )
    return override


def remove_override(actor: User, override_id) -> None:
    if not can_edit(actor):
        raise Forbidden("Only managers and admins change the on-call schedule.")
    try:
        override = db.session.get(OnCallOverride, int(override_id))
    except (TypeError, ValueError):
        override = None
    if override is None:
        raise NotFound("No such override.")
    audit.record(
        "settings.roster",
        target=override,
        target_label=override.user.email,
        before={"level": override.level.value, "user": override.user_id, "starts_at": override.starts_at,
                "ends_at": override.ends_at},
        detail="override removed",
        actor=actor,
    )  # fmt: skip
    db.session.delete(override)
    db.session.flush()
