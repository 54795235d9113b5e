"""Status page fixtures: components, incidents and windows written straight to the tables (the incident workflow
has its own tests), an empty page cache per test, and a real SMTP server (aiosmtpd) for the emails."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.models import (
    Component,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentEvent,
    IncidentKind,
    IncidentSeverity,
    IncidentState,
    IncidentUpdate,
    Maintenance,
    MaintenanceComponent,
    utcnow,
)
from portal.services.status import page
from portal.services.status.components import ensure_default_components
from tests.ops.conftest import _Mailbox, free_port


@pytest.fixture(autouse=True)
def _fresh_page_cache():
    page.clear_cache()
    yield
    page.clear_cache()


@pytest.fixture
def components() -> dict[str, Component]:
    ensure_default_components()
    db.session.commit()
    return {c.name: c for c in db.session.query(Component).all()}


def add_incident(
    title: str = "Reports time out",
    impacts: list[tuple[Component, ComponentState]] | None = None,
    *,
    state: IncidentState = IncidentState.investigating,
    public: bool = True,
    declared_at: datetime | None = None,
    resolved_at: datetime | None = None,
    all_organizations: bool = True,
) -> Incident:
    declared_at = declared_at or utcnow() - timedelta(minutes=30)
    if state is IncidentState.resolved and resolved_at is None:
        resolved_at = utcnow()
    incident = Incident(
        kind=IncidentKind.outage,
        severity=IncidentSeverity.major,
        title=title,
        summary="Generating reports fails for many customers.",
        state=state,
        public=public,
        declared_at=declared_at,
        resolved_at=resolved_at,
        all_organizations=all_organizations,
    )
    db.session.add(incident)
    db.session.flush()
    for component, impact in impacts or []:
        db.session.add(IncidentComponent(incident_id=incident.id, component_id=component.id, impact=impact))
    db.session.add(IncidentEvent(incident_id=incident.id, kind="declared", detail=title, at=declared_at))
    if resolved_at is not None:
        db.session.add(IncidentEvent(incident_id=incident.id, kind="state", detail="→ Resolved", at=resolved_at))
    db.session.commit()
    return incident


def add_update(incident: Incident, body: str, *, at: datetime | None = None) -> IncidentUpdate:
    update = IncidentUpdate(incident_id=incident.id, state=incident.state, body=body, created_at=at or utcnow())
    db.session.add(update)
    db.session.commit()
    return update


def add_window(
    title: str, starts_at: datetime, ends_at: datetime, components: list[Component], body: str = ""
) -> Maintenance:
    window = Maintenance(title=title, body=body, starts_at=starts_at, ends_at=ends_at, created_at=utcnow())
    db.session.add(window)
    db.session.flush()
    for component in components:
        db.session.add(MaintenanceComponent(maintenance_id=window.id, component_id=component.id))
    db.session.commit()
    return window


@pytest.fixture
def mailbox(app, monkeypatch):
    """A real SMTP server; the app sends to it."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT": 10.0,
        "MAIL_FROM": "ESG Support <support@support.test>",
        "PORTAL_URL": "http://portal.test",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield box
    controller.stop()
