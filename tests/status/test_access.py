"""Who may open every /ops/status and /ops/post-mortems path: anonymous visitors are sent to sign in, the wrong
roles get 403; components are edited by admins (managers view), maintenance by managers and admins, post-mortems
read by staff and edited by managers and senior agents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import ComponentState, IncidentState, PostMortem, PostMortemAction, Role, utcnow
from tests.conftest import csrf_from, login
from tests.status.conftest import add_incident, add_window

STAFF = {"agent", "senior_agent", "manager", "admin"}
PM_EDITORS = {"senior_agent", "manager"}


def _paths(component_id: int, window_id: int, incident_id: int, action_id: int) -> list[tuple[str, str, set[str]]]:
    pm = f"/ops/post-mortems/{incident_id}"
    return [
        ("GET", "/ops/status/components", {"admin", "manager"}),
        ("POST", "/ops/status/components", {"admin"}),
        ("POST", f"/ops/status/components/{component_id}", {"admin"}),
        ("POST", f"/ops/status/components/{component_id}/move", {"admin"}),
        ("GET", "/ops/status/maintenance", {"admin", "manager"}),
        ("POST", "/ops/status/maintenance", {"admin", "manager"}),
        ("POST", f"/ops/status/maintenance/{window_id}/cancel", {"admin", "manager"}),
        ("GET", "/ops/post-mortems", STAFF),
        ("GET", pm, STAFF),
        ("POST", pm, PM_EDITORS),
        ("POST", f"{pm}/save", PM_EDITORS),
        ("POST", f"{pm}/publish", PM_EDITORS),
        ("POST", f"{pm}/actions", PM_EDITORS),
        ("POST", f"{pm}/actions/{action_id}/done", PM_EDITORS),
        ("POST", f"{pm}/actions/{action_id}/ticket", PM_EDITORS),
    ]


@pytest.mark.parametrize("role", ["anonymous", "customer", "agent", "senior_agent", "manager", "admin"])
def test_every_ops_status_and_post_mortem_path(client, components, make_user, make_org, role):
    now = utcnow()
    window = add_window("Upgrade", now, now + timedelta(hours=1), [components["API"]])
    incident = add_incident("Down", [(components["API"], ComponentState.major_outage)], state=IncidentState.resolved)
    post_mortem = PostMortem(incident_id=incident.id, body="# Draft", created_at=now, updated_at=now)
    db.session.add(post_mortem)
    db.session.flush()
    action = PostMortemAction(post_mortem_id=post_mortem.id, title="Add an alert", created_at=now)
    db.session.add(action)
    db.session.commit()
    if role == "anonymous":
        token = csrf_from(client.get("/login").text)
    else:
        user = make_user(Role(role), organization=make_org() if role == "customer" else None)
        assert login(client, user).status_code == 302
        token = csrf_from(client.get("/profile").text)
    for method, path, allowed in _paths(components["API"].id, window.id, incident.id, action.id):
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": token})
        where = f"{role} {method} {path}"
        if role == "anonymous":
            assert response.status_code == 302 and "/login" in response.headers["Location"], where
        elif role in allowed:
            assert response.status_code not in (302, 401, 403, 404, 500), f"{where}: {response.status_code}"
        else:
            assert response.status_code == 403, f"{where}: {response.status_code}"


def test_public_paths_need_no_sign_in(client, components):
    for path in ("/status", "/status/subscribe", "/status/feed.atom", "/status/feed.rss"):
        assert client.get(path).status_code == 200, path
