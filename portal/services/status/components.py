"""Status page components (admin-editable: add, rename, describe, reorder, deactivate) and their state, which is
derived, never stored: the worst impact among the open incidents naming a component, else "maintenance" while a
running window names it, else operational."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Component,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentState,
    Maintenance,
    MaintenanceComponent,
    User,
    utcnow,
)
from portal.services import audit
from portal.services.errors import NotFound, ValidationFailed
from portal.services.status.maintenance import suppressed_components

NAME_MAX = 100
DESCRIPTION_MAX = 300
DEFAULT_COMPONENTS = (
    ("Data entry", "Entering and importing ESG data: forms, spreadsheets, bulk uploads."),
    ("Reporting", "Reports and disclosures: GRI, CSRD/ESRS, CDP, TCFD exports and dashboards."),
    ("Integrations", "Connections to ERP, HR and energy systems, and scheduled data syncs."),
    ("API", "The public REST API and webhooks."),
    ("Login", "Signing in, single sign-on and two-factor authentication."),
)


def list_components(*, active_only: bool = True) -> list[Component]:
    query = select(Component).order_by(Component.position, Component.id)
    if active_only:
        query = query.where(Component.is_active.is_(True))
    return list(db.session.scalars(query))


def get_component(component_id: int) -> Component:
    component = db.session.get(Component, component_id)
    if component is None:
        raise NotFound("No such component.")
    return component


def worst(states) -> ComponentState:
    return max(states, key=lambda s: s.rank, default=ComponentState.operational)


def current_states(at: datetime | None = None) -> dict[int, ComponentState]:
    """{component id: state} for every component named by an open incident or a running window (others are
    operational). Resolved incidents no longer count."""
    at = at or utcnow()
    states: dict[int, ComponentState] = {}
    rows = db.session.execute(
        select(IncidentComponent.component_id, IncidentComponent.impact)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(Incident.state != IncidentState.resolved)
    )
    for component_id, impact in rows:
        impact = ComponentState(impact)
        if component_id not in states or impact.rank > states[component_id].rank:
            states[component_id] = impact
    for component_id in suppressed_components(at):
        states.setdefault(component_id, ComponentState.maintenance)
    return states


def state_of(component_id: int, at: datetime | None = None) -> ComponentState:
    return current_states(at).get(component_id, ComponentState.operational)


# --------------------------------------------------------------------------- editing (admins)


def _slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40] or "component"


def _unique_slug(name: str) -> str:
    base, n = _slugify(name), 1
    slug = base
    while db.session.scalar(select(Component.id).where(Component.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _clean(name: str, description: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())
    description = " ".join((description or "").split())
    if not name:
        errors["name"] = "Give the component a name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"At most {NAME_MAX} characters."
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"At most {DESCRIPTION_MAX} characters."
    if errors:
        raise ValidationFailed("The component was not saved.", errors)
    return name, description


def _name_taken(name: str, except_id: int | None = None) -> bool:
    query = select(Component.id).where(func.lower(Component.name) == name.lower())
    if except_id is not None:
        query = query.where(Component.id != except_id)
    return db.session.scalar(query) is not None


def add_component(actor: User, *, name: str, description: str = "") -> Component:
    name, description = _clean(name, description)
    if _name_taken(name):
        raise ValidationFailed("The component was not saved.", {"name": "A component has this name already."})
    position = (db.session.scalar(select(func.max(Component.position))) or 0) + 1
    component = Component(
        slug=_unique_slug(name), name=name, description=description, position=position, is_active=True
    )
    db.session.add(component)
    db.session.flush()
    audit.record("status.component", target=component, before={}, after={"name": name}, detail="added", actor=actor)
    return component


def update_component(
    actor: User, component_id: int, *, name: str, description: str = "", is_active: bool = True
) -> Component:
    """Rename, describe, deactivate or reactivate (a deactivated component leaves the status page)."""
    component = get_component(component_id)
    name, description = _clean(name, description)
    if _name_taken(name, component.id):
        raise ValidationFailed("The component was not saved.", {"name": "A component has this name already."})
    before = {"name": component.name, "description": component.description, "is_active": component.is_active}
    component.name, component.description, component.is_active = name, description, bool(is_active)
    after = {"name": name, "description": description, "is_active": bool(is_active)}
    old, new = audit.changes(before, after)
    if new:
        audit.record("status.component", target=component, before=old, after=new, detail="changed", actor=actor)
    db.session.flush()
    return component


def move_component(actor: User, component_id: int, direction: str) -> Component:
    """Swap with the neighbour above ("up") or below ("down") in the page's order."""
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.", {"direction": "Choose up or down."})
    ordered = list_components(active_only=False)
    component = get_component(component_id)
    index = ordered.index(component)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, row in enumerate(ordered, start=1):
        row.position = position
    audit.record(
        "status.component",
        target=component,
        before={},
        after={"position": component.position},
        detail="moved",
        actor=actor,
    )
    db.session.flush()
    return component


def ensure_default_components() -> int:
    """The default components (demo seed), added when missing; returns how many were added."""
    added = 0
    for position, (name, description) in enumerate(DEFAULT_COMPONENTS, start=1):
        if db.session.scalar(select(Component.id).where(Component.name == name)) is None:
            db.session.add(Component(slug=_unique_slug(name), name=name, description=description, position=position))
            db.session.flush()
            added += 1
    return added


def seed_demo(now: datetime | None = None) -> dict[str, int]:
    """The demo's status page: the default components and one completed maintenance window (once)."""
    now = now or utcnow()
    added = {"components": ensure_default_components(), "maintenance": 0}
    if db.session.scalar(select(Maintenance.id).limit(1)) is None:
        start = (now - timedelta(days=9)).replace(hour=22, minute=0, second=0, microsecond=0)
        window = Maintenance(
            title="Database upgrade",
            body="Reporting and the API were read-only while the database was upgraded.",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            created_at=start - timedelta(days=3),
        )
        db.session.add(window)
        db.session.flush()
        for name in ("Reporting", "API"):
            component_id = db.session.scalar(select(Component.id).where(Component.name == name))
            if component_id is not None:
                db.session.add(MaintenanceComponent(maintenance_id=window.id, component_id=component_id))
        db.session.flush()
        added["maintenance"] = 1
    return added
