"""Post-mortems: started from the template for a resolved incident (facts and timeline filled in), edited with
optimistic concurrency, published internally or on the public status page (sanitized Markdown), action items that
become engineering tickets through the ticket service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEntry,
    ComponentState,
    IncidentState,
    OutboxMessage,
    PostMortem,
    PostMortemAction,
    PostMortemState,
    Role,
    Ticket,
    TicketEvent,
    Tier,
)
from tests.conftest import csrf_token, login
from tests.status.conftest import add_incident

DECLARED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _resolved(components, **kwargs):
    return add_incident(
        "Reports fail",
        [(components["Reporting"], ComponentState.major_outage)],
        state=IncidentState.resolved,
        declared_at=DECLARED,
        resolved_at=DECLARED + timedelta(hours=2, minutes=15),
        **kwargs,
    )


def _start(client, make_user, incident, role=Role.manager):
    editor = make_user(role)
    login(client, editor)
    token = csrf_token(client, f"/ops/post-mortems/{incident.id}")
    assert client.post(f"/ops/post-mortems/{incident.id}", data={"csrf_token": token}).status_code == 303
    return editor, token, db.session.scalar(select(PostMortem).where(PostMortem.incident_id == incident.id))


def test_started_from_the_template_with_facts_and_timeline(client, components, make_user):
    incident = _resolved(components)
    _editor, _token, pm = _start(client, make_user, incident, Role.senior_agent)
    for section in ("## Summary", "## Impact", "## Timeline", "## Root cause", "## What went well", "## Action items"):
        assert section in pm.body
    assert "- Duration: 2 h 15 min" in pm.body
    assert "- 2026-11-02 09:30 UTC — declared: Reports fail" in pm.body
    assert "- 2026-11-02 11:45 UTC — state:" in pm.body
    assert pm.state is PostMortemState.draft and pm.public is False
    page = client.get(f"/ops/post-mortems/{incident.id}").text
    assert "Timeline (UTC)" in page and "2 h 15 min" in page


def test_only_a_resolved_incident_gets_one(client, components, make_user):
    incident = add_incident("Still open", [(components["API"], ComponentState.degraded)])
    login(client, make_user(Role.manager))
    token = csrf_token(client, f"/ops/post-mortems/{incident.id}")
    assert client.post(f"/ops/post-mortems/{incident.id}", data={"csrf_token": token}).status_code == 422
    assert db.session.scalar(select(PostMortem)) is None


def test_a_stale_version_is_a_conflict_and_nothing_is_saved(client, components, make_user):
    incident = _resolved(components)
    _editor, token, pm = _start(client, make_user, incident)
    version = pm.version
    first = client.post(
        f"/ops/post-mortems/{incident.id}/save",
        data={"csrf_token": token, "version": version, "body": "# First editor\n\n## Root cause\n\nA full disk."},
    )
    assert first.status_code == 303
    second = client.post(
        f"/ops/post-mortems/{incident.id}/save",
        data={"csrf_token": token, "version": version, "body": "# Second editor"},
    )
    assert second.status_code == 409 and "Someone saved this post-mortem since you opened it" in second.text
    assert "# Second editor" in second.text  # the editor's text is kept in the form
    db.session.expire_all()
    assert db.session.get(PostMortem, pm.id).body.startswith("# First editor")


def test_publish_public_shows_it_on_the_status_page_sanitized(client, components, make_user):
    incident = _resolved(components)
    _editor, token, pm = _start(client, make_user, incident)
    body = "# What happened\n\nA **full disk**. <script>alert(1)</script> [x](javascript:alert(1))"
    assert (
        client.post(
            f"/ops/post-mortems/{incident.id}/save", data={"csrf_token": token, "version": pm.version, "body": body}
        ).status_code
        == 303
    )
    db.session.expire_all()
    pm = db.session.get(PostMortem, pm.id)
    internal = client.post(
        f"/ops/post-mortems/{incident.id}/publish", data={"csrf_token": token, "version": pm.version}
    )
    assert internal.status_code == 303
    db.session.expire_all()
    pm = db.session.get(PostMortem, pm.id)
    assert pm.state is PostMortemState.published and pm.public is False
    client.get("/status")
    anonymous = client.application.test_client()
    assert "Post-mortems" not in anonymous.get("/status").text  # published for staff only
    public = client.post(
        f"/ops/post-mortems/{incident.id}/publish", data={"csrf_token": token, "version": pm.version, "public": "1"}
    )
    assert public.status_code == 303
    status = anonymous.get("/status").text
    assert "Post-mortems" in status and f"/status/incidents/{incident.id}#post-mortem" in status
    page = anonymous.get(f"/status/incidents/{incident.id}").text
    assert "<strong>full disk</strong>" in page
    assert "<script>alert(1)</script>" not in page and 'href="javascript:' not in page
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "postmortem.published")) is not None


def test_an_internal_incidents_post_mortem_cannot_be_public(client, components, make_user):
    incident = _resolved(components, public=False)
    _editor, token, pm = _start(client, make_user, incident)
    refused = client.post(
        f"/ops/post-mortems/{incident.id}/publish", data={"csrf_token": token, "version": pm.version, "public": "1"}
    )
    assert refused.status_code == 422
    assert client.application.test_client().get(f"/status/incidents/{incident.id}").status_code == 404


def test_an_action_item_becomes_an_engineering_ticket(client, components, make_user):
    incident = _resolved(components)
    owner = make_user(Role.agent, name="Olivia Owner")
    editor, token, pm = _start(client, make_user, incident, Role.senior_agent)
    added = client.post(
        f"/ops/post-mortems/{incident.id}/actions",
        data={"csrf_token": token, "title": "Alert on disk usage", "owner_id": str(owner.id)},
    )
    assert added.status_code == 303
    item = db.session.scalar(select(PostMortemAction))
    assert item.owner_id == owner.id and item.ticket_id is None
    url = f"/ops/post-mortems/{incident.id}/actions/{item.id}/ticket"
    assert client.post(url, data={"csrf_token": token}).status_code == 303
    assert client.post(url, data={"csrf_token": token}).status_code == 303  # once per item
    db.session.expire_all()
    item = db.session.get(PostMortemAction, item.id)
    [ticket] = db.session.scalars(select(Ticket)).all()
    assert item.ticket_id == ticket.id
    assert ticket.tier is Tier.engineering and ticket.requester_id == editor.id
    assert "Alert on disk usage" in ticket.subject and "Olivia Owner" in ticket.description
    tiers = [
        (e.old_value, e.new_value)
        for e in db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "tier")
        )
    ]
    assert tiers == [("L1", "L2"), ("L2", "manager"), ("manager", "engineering")]
    kinds = [m.kind for m in db.session.scalars(select(OutboxMessage))]
    assert kinds.count("notify.escalation") == 3
    page = client.get(f"/ops/post-mortems/{incident.id}").text
    assert ticket.reference in page
    # an owner must be staff
    customer = make_user(Role.customer)
    refused = client.post(
        f"/ops/post-mortems/{incident.id}/actions",
        data={"csrf_token": token, "title": "Nope", "owner_id": str(customer.id)},
    )
    assert refused.status_code == 422


def test_staff_read_but_only_editors_write(client, components, make_user):
    incident = _resolved(components)
    _editor, token, _pm = _start(client, make_user, incident)
    client.post("/logout", data={"csrf_token": token})
    agent = make_user(Role.agent)
    login(client, agent)
    page = client.get(f"/ops/post-mortems/{incident.id}")
    assert page.status_code == 200 and "## Summary" not in page.text and "<h2>Summary</h2>" in page.text
    assert 'name="body"' not in page.text
