"""Components admin: admins add, rename, describe, reorder and deactivate; managers only view; the status page
follows at once."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEntry, Component, Role
from tests.conftest import csrf_token, login


def test_admins_edit_components_and_the_status_page_follows(client, components, make_user):
    login(client, make_user(Role.admin))
    token = csrf_token(client, "/ops/status/components")
    added = client.post(
        "/ops/status/components", data={"csrf_token": token, "name": "Exports", "description": "CSV and XBRL"}
    )
    assert added.status_code == 303
    exports = db.session.scalar(select(Component).where(Component.name == "Exports"))
    assert exports.slug == "exports" and exports.position == 6
    assert "Exports" in client.get("/status").text
    duplicate = client.post("/ops/status/components", data={"csrf_token": token, "name": "exports"})
    assert duplicate.status_code == 422 and "A component has this name already." in duplicate.text
    assert client.post("/ops/status/components", data={"csrf_token": token, "name": " "}).status_code == 422

    api = components["API"]
    renamed = client.post(
        f"/ops/status/components/{api.id}",
        data={"csrf_token": token, "name": "Public API", "description": "REST", "is_active": "1"},
    )
    assert renamed.status_code == 303
    assert client.post(f"/ops/status/components/{exports.id}/move", data={"csrf_token": token, "direction": "up"})
    db.session.expire_all()
    order = [c.name for c in db.session.scalars(select(Component).order_by(Component.position))]
    assert order == ["Data entry", "Reporting", "Integrations", "Public API", "Exports", "Login"]
    text = client.get("/status").text
    assert text.index("Public API") < text.index("Exports") < text.index("<strong>Login</strong>")

    deactivated = client.post(
        f"/ops/status/components/{exports.id}", data={"csrf_token": token, "name": "Exports", "description": ""}
    )
    assert deactivated.status_code == 303
    assert "<strong>Exports</strong>" not in client.get("/status").text
    assert client.post("/ops/status/components/999999", data={"csrf_token": token, "name": "X"}).status_code == 404
    assert (
        client.post(
            f"/ops/status/components/{api.id}/move", data={"csrf_token": token, "direction": "sideways"}
        ).status_code
        == 422
    )
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "status.component")).all()


def test_managers_view_without_edit_forms(client, components, make_user):
    login(client, make_user(Role.manager))
    page = client.get("/ops/status/components")
    assert page.status_code == 200 and "Data entry" in page.text
    assert "Add a component" not in page.text
