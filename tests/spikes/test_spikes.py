"""Spike detection: similar tickets arriving together reach the threshold → one alert (email to the senior agent on
shift and the manager, Slack), however the spike grows; nothing below the threshold, across categories, across
different subjects, or for a component under maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, Component, OutboxMessage, Role, ShiftRegion, SpikeAlert, Ticket
from portal.models.incidents import Maintenance, MaintenanceComponent
from portal.services import spikes
from tests.conftest import login
from workers import runner

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # EMEA's shift (08–16 UTC)


@pytest.fixture
def desk(app, monkeypatch, make_org, make_user, jobs_config):
    monkeypatch.setitem(app.config, "SPIKE_THRESHOLD", 3)
    monkeypatch.setitem(app.config, "SPIKE_WINDOW_MINUTES", 30)
    return {
        "customer": make_user(Role.customer, organization=make_org()),
        "l2_on_shift": make_user(Role.senior_agent, email="l2.emea@support.test", shift_region=ShiftRegion.emea),
        "l2_off_shift": make_user(Role.senior_agent, email="l2.apac@support.test", shift_region=ShiftRegion.apac),
        "manager": make_user(Role.manager, email="manager@support.test", shift_region=ShiftRegion.flexible),
    }


def _file(make_ticket, desk, at: datetime, subject: str, category: str = "data", component: Component | None = None):
    with time_machine.travel(at, tick=False):
        ticket = make_ticket(desk["customer"], subject=subject, category=category)
    if component is not None:
        db.session.execute(Ticket.__table__.update().where(Ticket.id == ticket.id).values(component_id=component.id))
        db.session.commit()
    return ticket


def _scan(at: datetime) -> list[SpikeAlert]:
    with time_machine.travel(at, tick=False):
        created = spikes.scan()
        db.session.commit()
    return created


def _notices() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "spike.alert")))


def test_threshold_reached_alerts_the_l2_on_shift_and_the_manager_once(
    app, client, desk, make_ticket, smtp_server, slack_receiver
):
    _controller, mailbox = smtp_server
    subjects = ["CSV import failing at row 3", "Imports fail since this morning", "csv import fails again"]
    tickets = [_file(make_ticket, desk, NOW + timedelta(minutes=i), s) for i, s in enumerate(subjects)]
    _file(make_ticket, desk, NOW, "Password reset link expired", category="account")

    created = _scan(NOW + timedelta(minutes=5))
    assert len(created) == 1
    spike = created[0]
    assert sorted(spike.ticket_ids) == sorted(t.id for t in tickets)
    assert "import" in spike.terms.split() and spike.category_id == tickets[0].category_id
    notices = _notices()
    assert len(notices) == 1
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        assert runner.process(notices[0].id) == "done"

    # spike notices only (the desk may mail the same people about other things)
    to_l2 = [m for m in mailbox.to(desk["l2_on_shift"].email) if m["Subject"].startswith("Spike")]
    to_manager = [m for m in mailbox.to(desk["manager"].email) if m["Subject"].startswith("Spike")]
    assert len(to_l2) == 1 and len(to_manager) == 1
    assert [m for m in mailbox.to(desk["l2_off_shift"].email) if m["Subject"].startswith("Spike")] == []
    body = to_l2[0].get_body(("plain",)).get_content()
    assert all(t.reference in body for t in tickets)
    assert f"/ops/incidents/new?spike={spike.id}" in body
    assert len(slack_receiver.received) == 1 and f"spike={spike.id}" in slack_receiver.received[0]["text"]

    # the spike grows: the alert's ticket list grows, no second notice
    more = [_file(make_ticket, desk, NOW + timedelta(minutes=10 + i), "CSV import failed") for i in range(2)]
    assert _scan(NOW + timedelta(minutes=15)) == []
    assert _scan(NOW + timedelta(minutes=35)) == []  # the first tickets left the window: still the same spike
    db.session.expire_all()
    grown = db.session.get(SpikeAlert, spike.id)
    assert set(grown.ticket_ids) == {t.id for t in tickets + more}
    assert len(_notices()) == 1

    # the health page lists it with "Declare incident" and "Dismiss"
    login(client, desk["manager"])
    page = client.get("/ops/health")
    assert f'href="/ops/incidents/new?spike={spike.id}"' in page.text and "Dismiss" in page.text


def test_a_later_separate_spike_alerts_again(app, desk, make_ticket):
    for i in range(3):
        _file(make_ticket, desk, NOW + timedelta(minutes=i), "Report export timeout")
    assert len(_scan(NOW + timedelta(minutes=3))) == 1
    later = NOW + timedelta(hours=3)
    for i in range(3):
        _file(make_ticket, desk, later + timedelta(minutes=i), "Report export timeout")
    assert len(_scan(later + timedelta(minutes=3))) == 1
    assert len(_notices()) == 2


def test_below_threshold_different_categories_or_terms_alert_nobody(app, desk, make_ticket):
    _file(make_ticket, desk, NOW, "Dashboard chart is blank")
    _file(make_ticket, desk, NOW + timedelta(minutes=1), "Dashboard chart is blank")
    assert _scan(NOW + timedelta(minutes=2)) == []  # two of three
    _file(make_ticket, desk, NOW + timedelta(minutes=2), "Dashboard chart is blank", category="training")
    assert _scan(NOW + timedelta(minutes=3)) == []  # the third is another category
    for i, subject in enumerate(["Login page slow", "Invoice address wrong", "Scope 3 factors missing"]):
        _file(make_ticket, desk, NOW + timedelta(minutes=3 + i), subject)
    assert _scan(NOW + timedelta(minutes=7)) == []  # same category, nothing in common
    for i in range(3):
        _file(make_ticket, desk, NOW - timedelta(hours=2) + timedelta(minutes=i), "Emission factor import broken")
    assert _scan(NOW + timedelta(minutes=8)) == []  # similar, but long before the window
    assert _notices() == []


def test_the_same_component_is_a_spike_unless_under_maintenance(app, desk, make_ticket):
    reporting = Component(slug="reporting", name="Reporting")
    data_entry = Component(slug="data-entry", name="Data entry")
    db.session.add_all([reporting, data_entry])
    db.session.commit()
    window = Maintenance(
        title="Reporting upgrade", starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=2)
    )
    db.session.add(window)
    db.session.flush()
    db.session.add(MaintenanceComponent(maintenance_id=window.id, component_id=reporting.id))
    db.session.commit()

    unrelated = ["Numbers look off", "Cannot open the page", "Error 500 on save"]
    for i, subject in enumerate(unrelated):
        _file(make_ticket, desk, NOW + timedelta(minutes=i), subject, category="technical", component=reporting)
    assert _scan(NOW + timedelta(minutes=4)) == []  # under maintenance: expected, not alerted

    for i, subject in enumerate(unrelated):
        _file(make_ticket, desk, NOW + timedelta(minutes=5 + i), subject, category="general", component=data_entry)
    created = _scan(NOW + timedelta(minutes=9))
    assert len(created) == 1 and created[0].component_id == data_entry.id
    assert len(created[0].ticket_ids) == 3
    assert len(_notices()) == 1


def test_dismiss_is_for_managers_and_admins(app, client, desk, make_ticket):
    for i in range(3):
        _file(make_ticket, desk, NOW + timedelta(minutes=i), "SSO_SAML login loop")
    spike = _scan(NOW + timedelta(minutes=3))[0]
    login(client, desk["l2_on_shift"])
    from tests.conftest import csrf_token

    token = csrf_token(client)
    assert client.post(f"/ops/spikes/{spike.id}/dismiss", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, desk["manager"])
    token = csrf_token(client)
    response = client.post(f"/ops/spikes/{spike.id}/dismiss", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(SpikeAlert, spike.id).dismissed_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "spike.dismissed"))
    assert entry is not None and entry.actor_id == desk["manager"].id
    assert client.post("/ops/spikes/999999/dismiss", data={"csrf_token": token}).status_code == 404
    assert f"spike-{spike.id}" not in client.get("/ops/health").text
