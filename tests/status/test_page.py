"""The public status page: anonymous and cookie-free, components' derived states, the banner, open incidents with
their updates, history, public incident pages, and a cache that still shows a change at once."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine

from portal.extensions import db
from portal.models import ComponentState, IncidentState, Role, utcnow
from portal.services.status import components as component_service
from portal.services.status import page
from tests.conftest import login
from tests.status.conftest import add_incident, add_update, add_window


def test_the_status_page_is_public_and_sets_no_cookie(client, components):
    incident = add_incident(impacts=[(components["Reporting"], ComponentState.partial_outage)])
    add_update(incident, "We are looking into it.")
    for path in ("/status", "/status", f"/status/incidents/{incident.id}", "/status/feed.atom", "/status/feed.rss"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
    assert client.get_cookie("session") is None


def test_no_cookie_even_for_a_visitor_who_has_a_session_with_messages(client, components):
    # a visitor who used the subscribe form has a session cookie (its CSRF token) and may have flashed messages
    client.get("/status/subscribe")
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "left over")]
    response = client.get("/status")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "left over" not in response.text


def test_banner_and_component_states(client, components):
    text = client.get("/status").text
    assert "All systems operational" in text
    for name in ("Data entry", "Reporting", "Integrations", "API", "Login"):
        assert name in text
    add_incident("API errors", [(components["API"], ComponentState.major_outage)])
    text = client.get("/status").text  # the change shows at once (the fingerprint moved)
    assert "All systems operational" not in text
    assert re.search(r"<strong>Major outage</strong>", text)
    assert re.search(r"<strong>API</strong>: <span class=\"badge [^\"]+\">Major outage</span>", text)


def test_state_derivation_incident_beats_maintenance_beats_operational(app, components):
    reporting, api, login_ = components["Reporting"], components["API"], components["Login"]
    now = utcnow()
    add_window("Upgrade", now - timedelta(hours=1), now + timedelta(hours=1), [reporting, api])
    add_incident("Slow reports", [(reporting, ComponentState.degraded)])
    add_incident("Reports down", [(reporting, ComponentState.partial_outage)], public=False)
    states = component_service.current_states(now)
    assert states[reporting.id] is ComponentState.partial_outage  # the worst open impact, public or not
    assert states[api.id] is ComponentState.maintenance
    assert login_.id not in states  # operational
    assert component_service.state_of(login_.id) is ComponentState.operational
    # resolved incidents stop counting
    for incident in db.session.query(page.Incident).all():
        incident.state, incident.resolved_at = IncidentState.resolved, utcnow()
    db.session.commit()
    assert component_service.current_states(now)[reporting.id] is ComponentState.maintenance
    with time_machine.travel(now + timedelta(hours=2)):
        assert component_service.current_states() == {}


def test_open_incidents_show_their_updates_newest_first_with_utc_instants(client, components):
    incident = add_incident("Reports time out", [(components["Reporting"], ComponentState.degraded)])
    first = add_update(incident, "Investigating slow reports.", at=utcnow() - timedelta(minutes=20))
    second = add_update(incident, "A fix is being deployed.", at=utcnow() - timedelta(minutes=5))
    text = client.get("/status").text
    assert text.index("A fix is being deployed.") < text.index("Investigating slow reports.")
    assert f'datetime="{second.created_at.isoformat()}"' in text
    assert f'datetime="{first.created_at.isoformat()}"' in text
    assert "UTC" in text


def test_a_signed_in_viewer_sees_their_zone(client, components, make_user):
    incident = add_incident("Reports time out", [(components["Reporting"], ComponentState.degraded)])
    add_update(incident, "Looking into it.", at=utcnow().replace(hour=12, minute=0, second=0, microsecond=0))
    customer = make_user(Role.customer, timezone="Asia/Singapore")
    login(client, customer)
    client.get("/status")
    response = client.get("/status")
    assert "Set-Cookie" not in response.headers  # a signed-in viewer's session is not rewritten either
    text = response.text
    assert "20:00 +08" in text  # 12:00 UTC in Singapore
    assert "Times in Asia/Singapore" in text


def test_internal_incidents_are_not_shown(client, components):
    hidden = add_incident("Internal security review", [(components["Login"], ComponentState.degraded)], public=False)
    add_update(hidden, "Secret detail.")
    shown = add_incident("Public one", [(components["API"], ComponentState.degraded)])
    text = client.get("/status").text
    assert "Internal security review" not in text and "Secret detail." not in text
    assert "Public one" in text
    assert client.get(f"/status/incidents/{hidden.id}").status_code == 404
    assert client.get("/status/incidents/999999").status_code == 404
    assert client.get(f"/status/incidents/{shown.id}").status_code == 200


def test_history_lists_days_with_incidents_and_a_daily_worst_state(app, client, components):
    now = utcnow()
    reporting = components["Reporting"]
    add_incident(
        "Old outage",
        [(reporting, ComponentState.major_outage)],
        state=IncidentState.resolved,
        declared_at=now - timedelta(days=3, hours=1),
        resolved_at=now - timedelta(days=3),
    )
    add_incident(
        "Too old to show",
        [(reporting, ComponentState.major_outage)],
        state=IncidentState.resolved,
        declared_at=now - timedelta(days=200),
        resolved_at=now - timedelta(days=199),
    )
    data = page.build_data(now)
    assert len(data.history) == app.config["STATUS_HISTORY_DAYS"] == len(data.strips[0][1])
    by_day = dict(data.history)
    day = (now - timedelta(days=3, hours=1)).date()
    assert [i.title for i in by_day[day]] == ["Old outage"]
    strip = dict(next(days for row, days in data.strips if row.id == reporting.id))
    assert strip[day] is ComponentState.major_outage
    assert strip[now.date()] is ComponentState.operational
    text = client.get("/status").text
    assert "Old outage" in text and "Too old to show" not in text
    assert '<table class="list status-history">' in text


def test_the_cache_serves_the_same_page_until_something_changes(app, client, components, monkeypatch):
    client.get("/status")
    calls = []
    real = page.build_data
    monkeypatch.setattr(page, "build_data", lambda now=None: calls.append(1) or real(now))
    for _ in range(3):
        client.get("/status")
    assert calls == []  # served from memory
    add_incident("New", [(components["API"], ComponentState.degraded)])
    assert "New" in client.get("/status").text and calls == [1]
