"""Incident pages: who may open or post to every /ops/incidents path, declaration (from a ticket, a spike), the
checklist copied and ticked, state changes with their instants and optimistic concurrency, links (ticket page, queue
bulk action), checklist templates, the banner."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEntry,
    ChecklistTemplateStep,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentState,
    IncidentStep,
    IncidentTicket,
    OutboxMessage,
    SpikeAlert,
)
from portal.services import incidents as service
from tests.conftest import csrf_token, login


def _declare(actor, **kwargs) -> Incident:
    values = {"kind": "outage", "severity": "major", "title": "Reporting is down", **kwargs}
    incident = service.declare(actor, service.Declaration(**values))
    db.session.commit()
    return incident


ROLES = ("anonymous", "customer", "agent", "senior", "manager", "admin")


def _client_as(app, cast, role):
    client = app.test_client()
    if role != "anonymous":
        user = {
            "customer": cast.a1,
            "agent": cast.agent,
            "senior": cast.senior,
            "manager": cast.manager,
            "admin": cast.admin,
        }[role]
        assert login(client, user).status_code == 302
    token = csrf_token(client, "/login" if role == "anonymous" else "/profile")
    return client, token


# path, method, expected status per role (anonymous, customer, agent, senior, manager, admin)
def _matrix(incident_id: int, step_id: int, ticket_id: int, template_id: int):
    i = f"/ops/incidents/{incident_id}"
    return [
        ("/ops/incidents", "GET", {}, (302, 404, 200, 200, 200, 200)),
        ("/ops/incidents?state=open&kind=outage", "GET", {}, (302, 404, 200, 200, 200, 200)),
        ("/ops/incidents/new", "GET", {}, (302, 404, 403, 200, 200, 200)),
        (i, "GET", {}, (302, 404, 200, 200, 200, 200)),
        (f"{i}/live", "GET", {}, (302, 404, 200, 200, 200, 200)),
        ("/ops/incidents/999999", "GET", {}, (302, 404, 404, 404, 404, 404)),
        ("/ops/incidents/templates", "GET", {}, (302, 404, 403, 403, 403, 200)),
        (
            "/ops/incidents",
            "POST",
            {"kind": "outage", "severity": "major", "title": "X"},
            (302, 404, 403, 303, 303, 303),
        ),
        (f"{i}/link", "POST", {"tickets": str(ticket_id)}, (302, 404, 303, 303, 303, 303)),
        (
            "/ops/incidents/link",
            "POST",
            {"incident_id": incident_id, "ticket_ids": ticket_id},
            (302, 404, 303, 303, 303, 303),
        ),
        (f"{i}/tickets/{ticket_id}/unlink", "POST", {}, (302, 404, 303, 303, 303, 303)),
        (f"{i}/steps/{step_id}", "POST", {"done": "1"}, (302, 404, 403, 303, 303, 303)),
        (f"{i}/steps/{step_id}/run", "POST", {}, (302, 404, 403, 303, 303, 303)),
        (f"{i}/updates", "POST", {"body": "Still looking."}, (302, 404, 303, 303, 303, 303)),
        (f"{i}/commander", "POST", {"commander_id": "0", "version": "1"}, (302, 404, 303, 303, 303, 303)),
        (f"{i}/state", "POST", {"state": "identified", "version": "0"}, (302, 404, 303, 303, 303, 303)),
        ("/ops/incidents/templates", "POST", {"kind": "outage", "title": "Call legal"}, (302, 404, 403, 403, 403, 303)),
        (
            f"/ops/incidents/templates/{template_id}",
            "POST",
            {"title": "Renamed", "action": ""},
            (302, 404, 403, 403, 403, 303),
        ),
        (f"/ops/incidents/templates/{template_id}/move", "POST", {"direction": "up"}, (302, 404, 403, 403, 403, 303)),
        (f"/ops/incidents/templates/{template_id}/delete", "POST", {}, (302, 404, 403, 403, 403, 303)),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_incident_path_is_authorized(app, cast, make_ticket, role):
    ticket = make_ticket(cast.a1)
    incident = _declare(cast.manager, all_organizations=False, organization_ids=[cast.acme.id])
    step = db.session.scalars(select(IncidentStep).where(IncidentStep.incident_id == incident.id)).first()
    template = ChecklistTemplateStep(kind=IncidentKind.security, position=0, title="Call the CISO", action="")
    db.session.add(template)
    db.session.commit()
    client, token = _client_as(app, cast, role)
    index = ROLES.index(role)
    for path, method, data, expected in _matrix(incident.id, step.id, ticket.id, template.id):
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == expected[index], (role, method, path, response.status_code)
        if role == "anonymous":
            assert "/login" in response.headers["Location"]
    if role in ("agent", "senior", "manager", "admin"):
        # L1 agents may link but never post updates or change state: the update above was refused (flash + 303)
        posted = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "incident.update")
        )
        assert posted == (0 if role == "agent" else 1)


def test_declare_from_a_ticket_copies_the_guides_outage_checklist_and_links_it(cast, make_ticket, login_as):
    ticket = make_ticket(cast.a1, subject="Nothing loads", priority="critical", actor=cast.agent)
    client, token = login_as(cast.manager)
    page = client.get(f"/ops/incidents/new?ticket={ticket.reference}")
    assert page.status_code == 200 and ticket.reference in page.text and 'value="critical" selected' in page.text
    response = client.post(
        "/ops/incidents",
        data={
            "csrf_token": token,
            "kind": "outage",
            "severity": "critical",
            "title": "Portal outage",
            "summary": "Everything 500s",
            "tickets": ticket.reference,
            "scope": "all",
        },
    )
    assert response.status_code == 303
    incident = db.session.scalar(select(Incident))
    assert incident.public is True and incident.commander_id == cast.manager.id
    assert incident.source_ticket_id == ticket.id and incident.state is IncidentState.investigating
    steps = db.session.scalars(
        select(IncidentStep).where(IncidentStep.incident_id == incident.id).order_by(IncidentStep.position)
    ).all()
    assert [s.title for s in steps] == [
        "Acknowledge the incident immediately",
        "Notify all affected customers",
        "Escalate to the engineering team",
        "Provide hourly updates",
        "Conduct a post-mortem",
    ]
    assert [s.action for s in steps] == ["", "notify", "escalate", "update", "postmortem"]
    assert db.session.scalar(select(IncidentTicket.ticket_id)) == ticket.id
    kinds = [e.kind for e in db.session.scalars(select(IncidentEvent).order_by(IncidentEvent.id))]
    assert kinds[:2] == ["declared", "linked"]
    detail = client.get(response.headers["Location"]).text
    assert "Escalate linked tickets to engineering" in detail and "Post-mortem" in detail


def test_security_and_data_loss_are_not_public_by_default_and_use_their_procedures(cast):
    security = _declare(cast.senior, kind="security", title="Suspicious logins")
    loss = _declare(cast.senior, kind="data_loss", title="Lost uploads")
    assert not security.public and not loss.public

    def first(i):
        return db.session.scalars(
            select(IncidentStep.title).where(IncidentStep.incident_id == i.id).order_by(IncidentStep.position)
        ).first()

    assert first(security) == "Isolate affected systems"
    assert first(loss) == "Stop all operations on the affected data"


def test_admin_edits_templates_and_new_incidents_copy_them(cast, login_as):
    client, token = login_as(cast.admin)
    assert (
        client.post(
            "/ops/incidents/templates", data={"csrf_token": token, "kind": "outage", "materialize": "1"}
        ).status_code
        == 303
    )
    rows = db.session.scalars(select(ChecklistTemplateStep).order_by(ChecklistTemplateStep.position)).all()
    assert len(rows) == 5
    client.post(
        "/ops/incidents/templates", data={"csrf_token": token, "kind": "outage", "title": "Page the CTO", "action": ""}
    )
    last = db.session.scalars(select(ChecklistTemplateStep).order_by(ChecklistTemplateStep.position.desc())).first()
    client.post(f"/ops/incidents/templates/{last.id}/move", data={"csrf_token": token, "direction": "up"})
    client.post(
        f"/ops/incidents/templates/{rows[0].id}", data={"csrf_token": token, "title": "Acknowledge now", "action": ""}
    )
    client.post(f"/ops/incidents/templates/{rows[1].id}/delete", data={"csrf_token": token})
    bad = client.post(
        f"/ops/incidents/templates/{rows[0].id}", data={"csrf_token": token, "title": "", "action": "nope"}
    )
    assert bad.status_code == 422
    audited = db.session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "incident.template_changed")
    ).all()
    assert sorted(audited) == ["added", "edited", "moved up", "removed"]
    db.session.expire_all()
    incident = _declare(cast.manager)
    titles = db.session.scalars(
        select(IncidentStep.title).where(IncidentStep.incident_id == incident.id).order_by(IncidentStep.position)
    ).all()
    assert titles == [
        "Acknowledge now",
        "Escalate to the engineering team",
        "Provide hourly updates",
        "Page the CTO",
        "Conduct a post-mortem",
    ]


def test_ticking_and_unticking_names_the_person_and_the_instant(cast, login_as):
    incident = _declare(cast.manager)
    step = db.session.scalars(select(IncidentStep).where(IncidentStep.incident_id == incident.id)).first()
    client, token = login_as(cast.senior)
    response = client.post(
        f"/ops/incidents/{incident.id}/steps/{step.id}",
        data={"csrf_token": token, "done": "1"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Step ticked." in response.text and cast.senior.name in response.text
    db.session.expire_all()
    step = db.session.get(IncidentStep, step.id)
    assert step.done_by_id == cast.senior.id and step.done_at is not None
    client.post(f"/ops/incidents/{incident.id}/steps/{step.id}", data={"csrf_token": token, "done": "0"})
    db.session.expire_all()
    step = db.session.get(IncidentStep, step.id)
    assert step.done_by_id is None and step.done_at is None
    kinds = db.session.scalars(
        select(IncidentEvent.kind).where(IncidentEvent.kind.like("step_%")).order_by(IncidentEvent.id)
    ).all()
    assert kinds == ["step_done", "step_undone"]


def test_state_moves_forward_with_instants_and_a_stale_version_is_a_conflict(cast, login_as):
    incident = _declare(cast.manager)
    client, token = login_as(cast.manager)
    version = incident.version
    ok = client.post(
        f"/ops/incidents/{incident.id}/state",
        data={"csrf_token": token, "state": "identified", "version": version},
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 200 and "Identified" in ok.text
    stale = client.post(
        f"/ops/incidents/{incident.id}/state",
        data={"csrf_token": token, "state": "monitoring", "version": version},
        headers={"HX-Request": "true"},
    )
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert (
        incident.state is IncidentState.identified
        and incident.identified_at is not None
        and incident.monitoring_at is None
    )
    back = client.post(
        f"/ops/incidents/{incident.id}/state",
        data={"csrf_token": token, "state": "investigating", "version": incident.version},
        headers={"HX-Request": "true"},
    )
    assert back.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.kind == "state")) == 1


def test_link_from_the_ticket_page_and_the_queue_bulk_action_then_unlink(cast, make_ticket, login_as):
    incident = _declare(cast.manager, all_organizations=False, organization_ids=[cast.other.id])
    t1, t2, t3 = (make_ticket(cast.a1, subject=f"Down {n}") for n in range(3))
    client, token = login_as(cast.agent)
    page = client.get(f"/agent/tickets/{t1.reference}").text
    assert "Link to incident" in page and incident.reference in page
    assert "Declare an incident from this ticket" not in page  # L1 links, seniors declare
    client.post("/ops/incidents/link", data={"csrf_token": token, "incident_id": incident.id, "ticket_ids": t1.id})
    queue = client.get("/agent/queue").text
    assert 'form="queue-link"' in queue and "Link to incident" in queue
    response = client.post(
        "/ops/incidents/link", data={"csrf_token": token, "incident_id": incident.id, "ticket_ids": [t2.id, t3.id]}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/ops/incidents/{incident.id}")
    linked = set(db.session.scalars(select(IncidentTicket.ticket_id)))
    assert linked == {t1.id, t2.id, t3.id}
    assert cast.acme.id in {o.id for o in service.detail(incident)["organizations"]}  # the tickets' organization
    assert incident.reference in client.get(f"/agent/tickets/{t1.reference}").text
    client.post(f"/ops/incidents/{incident.id}/tickets/{t1.id}/unlink", data={"csrf_token": token})
    assert set(db.session.scalars(select(IncidentTicket.ticket_id))) == {t2.id, t3.id}


def test_declare_form_prelinks_a_spikes_tickets(cast, make_ticket, login_as):
    tickets = [make_ticket(cast.a1, subject=f"Export broken {n}") for n in range(3)]
    spike = SpikeAlert(key="export:window", ticket_ids=[t.id for t in tickets], terms="export")
    db.session.add(spike)
    db.session.commit()
    client, token = login_as(cast.senior)
    page = client.get(f"/ops/incidents/new?spike={spike.id}")
    assert all(t.reference in page.text for t in tickets)
    client.post(
        "/ops/incidents",
        data={
            "csrf_token": token,
            "kind": "outage",
            "severity": "major",
            "title": "Exports",
            "spike": spike.id,
            "scope": "all",
        },
    )
    incident = db.session.scalar(select(Incident))
    assert set(db.session.scalars(select(IncidentTicket.ticket_id))) == {t.id for t in tickets}
    db.session.expire_all()
    assert db.session.get(SpikeAlert, spike.id).incident_id == incident.id


def test_banner_shows_affected_customers_and_staff_only(app, cast, make_ticket):
    incident = _declare(cast.manager, all_organizations=False, organization_ids=[cast.acme.id], title="Slow reports")
    service.post_update(cast.manager, incident, "We are restarting the report servers.")
    db.session.commit()
    seen = {}
    for name in ("a1", "b1", "agent"):
        client = app.test_client()
        login(client, getattr(cast, name))
        seen[name] = client.get("/profile").text
    assert (
        "Slow reports" in seen["a1"]
        and "restarting the report servers" in seen["a1"]
        and 'href="/status"' in seen["a1"]
    )
    assert "Slow reports" not in seen["b1"]
    assert "Open incidents:" in seen["agent"] and incident.reference in seen["agent"]
    assert "Slow reports" not in app.test_client().get("/login").text


def test_the_page_refreshes_updates_and_timeline_that_others_post(client, cast):
    """A commander with the page open sees a colleague's update within the refresh, out of band: the forms (and what
    is typed in them) are not part of what is swapped."""
    incident = _declare(cast.manager)
    login(client, cast.agent)
    page = client.get(f"/ops/incidents/{incident.id}").text
    assert f'hx-get="/ops/incidents/{incident.id}/live"' in page and 'hx-trigger="every 30s"' in page
    service.post_update(
        cast.senior, db.session.get(Incident, incident.id), "Database failover done; replaying imports."
    )
    db.session.commit()
    live = client.get(f"/ops/incidents/{incident.id}/live", headers={"HX-Request": "true"})
    assert live.status_code == 200 and live.headers["Cache-Control"] == "no-store"
    assert (
        'id="incident-updates" hx-swap-oob="true"' in live.text
        and 'id="incident-timeline" hx-swap-oob="true"' in live.text
    )
    assert "Database failover done; replaying imports." in live.text
    assert "<form" not in live.text
