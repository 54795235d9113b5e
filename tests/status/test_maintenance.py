"""Maintenance windows: entered in the editor's zone and stored in UTC, validated, shown as scheduled → in progress →
completed by the clock alone, cancelled by hand; while one runs, subscriber notices about its components only are
held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, ComponentState, Maintenance, Role, StatusSubscriber, utcnow
from portal.services import outbox
from portal.services.status import maintenance
from tests.conftest import csrf_token, login
from tests.status.conftest import add_incident, add_update, add_window
from workers.registry import dispatch

# a window in a few days (entered while the real clock runs: signed cookies refuse a clock set backwards)
START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=22, minute=0, second=0, microsecond=0)
ZONE = ZoneInfo("Asia/Singapore")  # no daylight saving: UTC+8 all year


def local(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def test_a_window_moves_through_its_phases_by_the_clock_alone(client, components, make_user):
    manager = make_user(Role.manager, timezone="Asia/Singapore")
    login(client, manager)
    token = csrf_token(client, "/ops/status/maintenance")
    response = client.post(
        "/ops/status/maintenance",
        data={
            "csrf_token": token,
            "title": "Database upgrade",
            "body": "Reports are read-only.",
            "starts_at": local(START),  # 06:00 the next morning in Singapore: 22:00 UTC
            "ends_at": local(START + timedelta(hours=2)),
            "components": [str(components["Reporting"].id)],
        },
    )
    assert response.status_code == 303
    window = db.session.scalar(select(Maintenance))
    assert window.starts_at == START and window.ends_at == START + timedelta(hours=2)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "status.maintenance")) is not None
    client.post("/logout", data={"csrf_token": token})

    def shown(at: datetime) -> str:
        with time_machine.travel(at, tick=False):
            return client.get("/status").text

    assert 'Database upgrade <span class="badge">Scheduled</span>' in shown(START - timedelta(minutes=1))
    during = shown(START + timedelta(minutes=1))
    assert 'Database upgrade <span class="badge">In progress</span>' in during
    assert '<strong>Reporting</strong>: <span class="badge sla-met">Under maintenance</span>' in during
    assert "Scheduled maintenance in progress" in during
    after = shown(START + timedelta(hours=2))  # ends on time, no job involved
    assert 'Database upgrade <span class="badge">Completed</span>' in after
    assert "All systems operational" in after
    assert maintenance.suppressed_components(START + timedelta(hours=1)) == {components["Reporting"].id}
    assert maintenance.suppressed_components(START + timedelta(hours=2)) == set()
    assert maintenance.suppressed_components(START - timedelta(seconds=1)) == set()


def test_validation_end_after_start_and_components(client, components, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    token = csrf_token(client, "/ops/status/maintenance")
    base = {"csrf_token": token, "title": "Upgrade", "components": [str(components["API"].id)]}
    backwards = client.post(
        "/ops/status/maintenance", data={**base, "starts_at": "2026-06-01T10:00", "ends_at": "2026-06-01T09:00"}
    )
    assert backwards.status_code == 422 and "The end must be after the start." in backwards.text
    garbage = client.post("/ops/status/maintenance", data={**base, "starts_at": "soon", "ends_at": "later"})
    assert garbage.status_code == 422
    no_components = client.post(
        "/ops/status/maintenance",
        data={"csrf_token": token, "title": "Upgrade", "starts_at": "2026-06-01T10:00", "ends_at": "2026-06-01T11:00"},
    )
    assert no_components.status_code == 422
    assert db.session.scalar(select(Maintenance)) is None


def test_a_cancelled_window_suppresses_nothing(client, components, make_user):
    now = utcnow()
    window = add_window("Upgrade", now - timedelta(minutes=5), now + timedelta(hours=1), [components["API"]])
    assert maintenance.suppressed_components() == {components["API"].id}
    login(client, make_user(Role.manager))
    token = csrf_token(client, "/ops/status/maintenance")
    assert client.post(f"/ops/status/maintenance/{window.id}/cancel", data={"csrf_token": token}).status_code == 303
    assert maintenance.suppressed_components() == set()
    db.session.expire_all()
    assert maintenance.phase(window) is maintenance.Phase.cancelled


def _confirmed(email: str, component_ids: list[int] | None = None) -> StatusSubscriber:
    subscriber = StatusSubscriber(
        email=email,
        all_components=component_ids is None,
        component_ids=component_ids or [],
        confirmed_at=utcnow(),
        created_at=utcnow(),
    )
    db.session.add(subscriber)
    db.session.commit()
    return subscriber


def test_a_running_window_suppresses_notices_about_its_components_only(components, mailbox):
    api, login_ = components["API"], components["Login"]
    _confirmed("everything@example.test")
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        add_window("API upgrade", START, START + timedelta(hours=2), [api])
    api_incident = add_incident("API slow", [(api, ComponentState.degraded)])
    login_incident = add_incident("Sign-in fails", [(login_, ComponentState.major_outage)])
    both = add_incident("API and sign-in", [(api, ComponentState.degraded), (login_, ComponentState.degraded)])

    def notice(incident, text: str, at: datetime) -> None:
        update = add_update(incident, text, at=at)
        message = outbox.emit("status.incident_update", {"update_id": update.id})
        db.session.commit()
        dispatch("status.incident_update", message.payload, message.id)

    during = START + timedelta(minutes=30)
    notice(api_incident, "API slow during the window.", during)  # only maintained components: held back
    notice(login_incident, "Sign-in broken during the window.", during)  # another component: sent
    notice(both, "Both during the window.", during)  # not all of them under maintenance: sent
    notice(api_incident, "API slow before the window.", START - timedelta(minutes=1))
    notice(api_incident, "API slow after the window.", START + timedelta(hours=2))
    bodies = [m.get_body(("plain",)).get_content() for m in mailbox.messages]
    texts = [
        "API slow during the window.",
        "Sign-in broken during the window.",
        "Both during the window.",
        "API slow before the window.",
        "API slow after the window.",
    ]
    sent = {text: sum(text in b for b in bodies) for text in texts}
    assert sent == {texts[0]: 0, texts[1]: 1, texts[2]: 1, texts[3]: 1, texts[4]: 1}
