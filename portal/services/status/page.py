"""The public status page's data, built in a few queries and kept in process: the components and their derived
states, the overall banner, open public incidents with their updates (newest first), scheduled / running / recently
completed maintenance, STATUS_HISTORY_DAYS days of history (incidents per day and a daily worst state per
component) and the published public post-mortems.

The page is rebuilt only when its "last change" fingerprint moves (one small query over incidents, updates,
impacts, windows, components and post-mortems) or when the clock crosses an instant that changes it (a window
starts or ends, a new UTC day, at the latest STATUS_CACHE_SECONDS later). Everything cached is plain data (never
ORM objects, which expire with their session)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from markupsafe import Markup
from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import (
    Component,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentState,
    IncidentUpdate,
    Maintenance,
    MaintenanceComponent,
    PostMortem,
    PostMortemState,
    utcnow,
)
from portal.services.status.components import worst
from portal.services.status.maintenance import Phase, component_ids_of, phase

RECENT_MAINTENANCE = timedelta(days=7)  # completed windows stay listed this long

STATE_CLASS = {
    ComponentState.operational: "sla-ok",
    ComponentState.maintenance: "sla-met",
    ComponentState.degraded: "sla-at_risk",
    ComponentState.partial_outage: "sla-breached",
    ComponentState.major_outage: "sla-breached",
}
STATE_SYMBOL = {
    ComponentState.operational: "✓",
    ComponentState.maintenance: "M",
    ComponentState.degraded: "!",
    ComponentState.partial_outage: "✕",
    ComponentState.major_outage: "✕✕",
}
# One history cell per state, built once: the table has a cell per day and component (90 × components).
HISTORY_CELLS = {
    state: Markup(
        f'<span class="badge {STATE_CLASS[state]}">{STATE_SYMBOL[state]}'
        f'<span class="visually-hidden"> {state.label}</span></span>'
    )
    for state in ComponentState
}


@dataclass(frozen=True)
class ComponentRow:
    id: int
    name: str
    description: str
    state: ComponentState


@dataclass(frozen=True)
class UpdateRow:
    id: int
    state: IncidentState
    body: str
    created_at: datetime


@dataclass(frozen=True)
class IncidentRow:
    id: int
    reference: str
    title: str
    state: IncidentState
    severity: str
    declared_at: datetime
    resolved_at: datetime | None
    components: tuple[tuple[str, ComponentState], ...]
    updates: tuple[UpdateRow, ...] = ()


@dataclass(frozen=True)
class WindowRow:
    id: int
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime
    phase: Phase
    components: tuple[str, ...]


@dataclass(frozen=True)
class PostMortemRow:
    incident_id: int
    reference: str
    title: str
    published_at: datetime | None


@dataclass
class StatusData:
    generated_at: datetime
    overall: ComponentState
    components: list[ComponentRow]
    incidents: list[IncidentRow]
    maintenance: list[WindowRow]
    history: list[tuple[date, list[IncidentRow]]]  # newest day first; every day listed
    strips: list[tuple[ComponentRow, list[tuple[date, ComponentState]]]]  # oldest day first
    post_mortems: list[PostMortemRow]
    valid_until: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def banner(self) -> str:
        if self.overall is ComponentState.operational:
            return "All systems operational"
        if self.overall is ComponentState.maintenance:
            return "Scheduled maintenance in progress"
        return {
            ComponentState.degraded: "Degraded performance",
            ComponentState.partial_outage: "Partial outage",
            ComponentState.major_outage: "Major outage",
        }[self.overall]


# --------------------------------------------------------------------------- the fingerprint


def _fingerprint_statement():
    def scalar(expr):
        return expr.scalar_subquery()

    return select(
        scalar(select(func.max(Incident.declared_at))),
        scalar(select(func.count(Incident.id))),
        scalar(select(func.coalesce(func.sum(Incident.version), 0))),
        scalar(select(func.max(IncidentUpdate.id))),
        scalar(select(func.max(IncidentUpdate.created_at))),
        scalar(select(func.count(IncidentComponent.id))),
        scalar(select(func.max(IncidentComponent.id))),
        scalar(select(func.max(Maintenance.created_at))),
        scalar(select(func.count(Maintenance.cancelled_at))),
        scalar(select(func.count(MaintenanceComponent.id))),
        scalar(
            select(
                func.coalesce(
                    func.sum(
                        func.length(Component.name) * 7
                        + func.length(Component.description) * 3
                        + Component.position * 11
                        + case((Component.is_active.is_(True), 1), else_=0)
                    ),
                    0,
                )
            )
        ),
        scalar(select(func.count(Component.id))),
        scalar(select(func.coalesce(func.sum(PostMortem.version), 0))),
        scalar(select(func.max(PostMortem.updated_at))),
    )


_FINGERPRINT_SQL: dict[str, str] = {}


def fingerprint() -> tuple:
    """The "last change" of everything the page shows, in one small query: compiled once per dialect to plain SQL
    (it has no parameters) and run on the session's connection, without the ORM's result processing (a quarter of
    the cost; the values are only compared, never read)."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    sql = _FINGERPRINT_SQL.get(dialect)
    if sql is None:
        compiled = _fingerprint_statement().compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        sql = _FINGERPRINT_SQL.setdefault(dialect, str(compiled))
    return tuple(connection.exec_driver_sql(sql).one())


# --------------------------------------------------------------------------- the cache


_lock = threading.Lock()
_cache: dict[tuple, tuple[datetime, Any]] = {}


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def cached(kind: str, build: Callable[[StatusData], Any], *, now: datetime | None = None) -> Any:
    """``build(data)`` for the current fingerprint (and ``kind``), from the cache while it is valid."""
    now = now or utcnow()
    key = (kind, id(current_app._get_current_object()), fingerprint())
    entry = _cache.get(key)
    if entry is not None and now < entry[0]:
        return entry[1]
    data = _data_for(key[2], now)
    value = data if kind == "data" else build(data)
    with _lock:
        if len(_cache) > 64:  # old fingerprints: nobody asks for them again
            _cache.clear()
        _cache[key] = (data.valid_until, value)
    return value


def _data_for(print_: tuple, now: datetime) -> StatusData:
    key = ("data", id(current_app._get_current_object()), print_)
    entry = _cache.get(key)
    if entry is not None and now < entry[0]:
        return entry[1]
    data = build_data(now)
    with _lock:
        _cache[key] = (data.valid_until, data)
    return data


def status_data(now: datetime | None = None) -> StatusData:
    return cached("data", lambda data: data, now=now)


# --------------------------------------------------------------------------- building


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def build_data(now: datetime | None = None) -> StatusData:
    now = now or utcnow()
    days = int(current_app.config.get("STATUS_HISTORY_DAYS", 90))
    today = now.astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    history_start = _day_start(first_day)
    boundaries = [now + timedelta(seconds=int(current_app.config.get("STATUS_CACHE_SECONDS", 15)))]
    boundaries.append(_day_start(today + timedelta(days=1)))

    components = list(
        db.session.execute(
            select(Component.id, Component.name, Component.description)
            .where(Component.is_active.is_(True))
            .order_by(Component.position, Component.id)
        )
    )
    names = dict(db.session.execute(select(Component.id, Component.name)).all())

    # public incidents open now or touching the history window, with their impacts
    incidents = list(
        db.session.scalars(
            select(Incident)
            .where(Incident.public.is_(True))
            .where((Incident.resolved_at.is_(None)) | (Incident.resolved_at >= history_start))
            .order_by(Incident.declared_at.desc(), Incident.id.desc())
        )
    )
    impacts: dict[int, list[tuple[int, ComponentState]]] = {i.id: [] for i in incidents}
    for incident_id, component_id, impact in db.session.execute(
        select(IncidentComponent.incident_id, IncidentComponent.component_id, IncidentComponent.impact)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(Incident.public.is_(True))
        .where((Incident.resolved_at.is_(None)) | (Incident.resolved_at >= history_start))
        .order_by(IncidentComponent.id)
    ):
        if incident_id in impacts:
            impacts[incident_id].append((component_id, ComponentState(impact)))
    updates: dict[int, list[UpdateRow]] = {i.id: [] for i in incidents if i.state is not IncidentState.resolved}
    for row in db.session.execute(
        select(
            IncidentUpdate.incident_id,
            IncidentUpdate.id,
            IncidentUpdate.state,
            IncidentUpdate.body,
            IncidentUpdate.created_at,
        )
        .join(Incident, Incident.id == IncidentUpdate.incident_id)
        .where(Incident.public.is_(True), Incident.state != IncidentState.resolved)
        .order_by(IncidentUpdate.created_at.desc(), IncidentUpdate.id.desc())
    ):
        if row.incident_id in updates:
            updates[row.incident_id].append(UpdateRow(row.id, IncidentState(row.state), row.body, row.created_at))

    def incident_row(incident: Incident, with_updates: bool) -> IncidentRow:
        return IncidentRow(
            id=incident.id,
            reference=incident.reference,
            title=incident.title,
            state=incident.state,
            severity=incident.severity.value,
            declared_at=incident.declared_at,
            resolved_at=incident.resolved_at,
            components=tuple((names.get(c, "?"), impact) for c, impact in impacts[incident.id]),
            updates=tuple(updates.get(incident.id, ())) if with_updates else (),
        )

    rows = {i.id: incident_row(i, False) for i in incidents}
    open_rows = [incident_row(i, True) for i in incidents if i.state is not IncidentState.resolved]

    # the state of every component: open incidents (all, public or not: the state is a fact), then running windows
    states: dict[int, ComponentState] = {}
    for component_id, impact in db.session.execute(
        select(IncidentComponent.component_id, IncidentComponent.impact)
        .join(Incident, Incident.id == IncidentComponent.incident_id)
        .where(Incident.state != IncidentState.resolved)
    ):
        impact = ComponentState(impact)
        if component_id not in states or impact.rank > states[component_id].rank:
            states[component_id] = impact

    # windows: those touching the history and the future (not cancelled) for the page and the strips
    window_objs = list(
        db.session.scalars(
            select(Maintenance)
            .where(Maintenance.cancelled_at.is_(None), Maintenance.ends_at > history_start)
            .order_by(Maintenance.starts_at, Maintenance.id)
        )
    )
    window_components = component_ids_of([w.id for w in window_objs])
    shown: list[WindowRow] = []
    for window in window_objs:
        current = phase(window, now)
        if current is Phase.in_progress:
            for component_id in window_components[window.id]:
                states.setdefault(component_id, ComponentState.maintenance)
        for instant in (window.starts_at, window.ends_at):
            if instant > now:
                boundaries.append(instant)
        if current is not Phase.completed or window.ends_at > now - RECENT_MAINTENANCE:
            shown.append(
                WindowRow(
                    id=window.id,
                    title=window.title,
                    body=window.body,
                    starts_at=window.starts_at,
                    ends_at=window.ends_at,
                    phase=current,
                    components=tuple(names.get(c, "?") for c in window_components[window.id]),
                )
            )
    order = {Phase.in_progress: 0, Phase.scheduled: 1, Phase.completed: 2}
    shown.sort(
        key=lambda w: (order[w.phase], w.starts_at if w.phase is not Phase.completed else -w.ends_at.timestamp())
    )

    component_rows = [
        ComponentRow(c.id, c.name, c.description, states.get(c.id, ComponentState.operational)) for c in components
    ]
    overall = worst(r.state for r in component_rows)

    # history: the days each public incident touched, and each component's worst state per day
    day_list = [first_day + timedelta(days=n) for n in range(days)]
    per_day: dict[date, list[IncidentRow]] = {d: [] for d in day_list}
    strip_states: dict[int, dict[date, list[ComponentState]]] = {c.id: {} for c in components}
    for incident in incidents:
        start = max(incident.declared_at.astimezone(UTC).date(), first_day)
        end = min((incident.resolved_at or now).astimezone(UTC).date(), today)
        day = start
        while day <= end:
            per_day[day].append(rows[incident.id])
            for component_id, impact in impacts[incident.id]:
                if component_id in strip_states:
                    strip_states[component_id].setdefault(day, []).append(impact)
            day += timedelta(days=1)
    for window in window_objs:
        if window.starts_at > now:
            continue
        start = max(window.starts_at.astimezone(UTC).date(), first_day)
        end = min(min(window.ends_at, now).astimezone(UTC).date(), today)
        day = start
        while day <= end:
            for component_id in window_components[window.id]:
                if component_id in strip_states:
                    strip_states[component_id].setdefault(day, []).append(ComponentState.maintenance)
            day += timedelta(days=1)
    strips = [(row, [(day, worst(strip_states[row.id].get(day, ()))) for day in day_list]) for row in component_rows]
    history = [(day, per_day[day]) for day in reversed(day_list)]

    post_mortems = [
        PostMortemRow(incident_id, f"INC-{incident_id:04d}", title, published_at)
        for incident_id, title, published_at in db.session.execute(
            select(Incident.id, Incident.title, PostMortem.published_at)
            .join(PostMortem, PostMortem.incident_id == Incident.id)
            .where(
                Incident.public.is_(True),
                PostMortem.public.is_(True),
                PostMortem.state == PostMortemState.published,
            )
            .order_by(PostMortem.published_at.desc(), Incident.id.desc())
            .limit(50)
        )
    ]
    return StatusData(
        generated_at=now,
        overall=overall,
        components=component_rows,
        incidents=open_rows,
        maintenance=shown,
        history=history,
        strips=strips,
        post_mortems=post_mortems,
        valid_until=min(boundaries),
    )


# --------------------------------------------------------------------------- one public incident


def public_incident(incident_id: int) -> dict | None:
    """A public incident's page: every update (newest first), its components and its published public
    post-mortem (Markdown source), or None when there is no such public incident."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or not incident.public:
        return None
    names = dict(db.session.execute(select(Component.id, Component.name)).all())
    impacts = tuple(
        (names.get(c, "?"), ComponentState(i))
        for c, i in db.session.execute(
            select(IncidentComponent.component_id, IncidentComponent.impact)
            .where(IncidentComponent.incident_id == incident.id)
            .order_by(IncidentComponent.id)
        )
    )
    updates = tuple(
        UpdateRow(u.id, IncidentState(u.state), u.body, u.created_at)
        for u in db.session.scalars(
            select(IncidentUpdate)
            .where(IncidentUpdate.incident_id == incident.id)
            .order_by(IncidentUpdate.created_at.desc(), IncidentUpdate.id.desc())
        )
    )
    post_mortem = db.session.scalar(
        select(PostMortem).where(
            PostMortem.incident_id == incident.id,
            PostMortem.public.is_(True),
            PostMortem.state == PostMortemState.published,
        )
    )
    return {
        "incident": IncidentRow(
            id=incident.id,
            reference=incident.reference,
            title=incident.title,
            state=incident.state,
            severity=incident.severity.value,
            declared_at=incident.declared_at,
            resolved_at=incident.resolved_at,
            components=impacts,
            updates=updates,
        ),
        "post_mortem": post_mortem,
    }
