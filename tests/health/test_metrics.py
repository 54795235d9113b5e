"""/metrics: refused without the token or an allowed address, parses as Prometheus text, and its counts are the
database's."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role, Status, Ticket
from portal.services import heartbeats

AUTH = {"Authorization": "Bearer test-metrics-token"}


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_refused_without_the_token(client):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert "portal_" not in anonymous.text and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403 and "portal_" not in wrong.text
    assert client.get("/metrics", headers={"Authorization": "Basic dGVzdA=="}).status_code == 403
    assert "Set-Cookie" not in anonymous.headers


def test_metrics_by_address_only_from_the_allowed_networks(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "10.0.0.0/8, 192.0.2.7")
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert outside.status_code == 401 and "portal_" not in outside.text
    # a forged forwarded header from an untrusted peer does not help
    forged = client.get(
        "/metrics", environ_base={"REMOTE_ADDR": "198.51.100.4"}, headers={"X-Forwarded-For": "10.1.1.1"}
    )
    assert forged.status_code == 401
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert inside.status_code == 200 and "portal_tickets" in inside.text
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200


def test_metrics_parse_and_count_what_the_database_holds(client, make_org, make_user, make_ticket):
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    priorities = ("low", "medium", "medium", "high", "critical")
    tickets = [make_ticket(customer, priority=p, actor=agent if p == "critical" else None) for p in priorities]
    solved = tickets[0]
    db.session.execute(Ticket.__table__.update().where(Ticket.id == solved.id).values(status=Status.solved.value))
    db.session.add(OutboxMessage(kind="notify.x", queue="notify", payload={}, status=OutboxStatus.failed))
    db.session.commit()
    heartbeats.beat(heartbeats.worker_name(), "worker", "notify,index,sweeps,default")
    client.get("/healthz")
    client.get(f"/agent/tickets/{tickets[1].reference}")  # an endpoint with an argument: labelled by endpoint

    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = _families(response.text)

    expected = {
        (s.value, p.value): n
        for s, p, n in db.session.execute(
            select(Ticket.status, Ticket.priority, func.count()).group_by(Ticket.status, Ticket.priority)
        )
    }
    scraped = {(s.labels["status"], s.labels["priority"]): s.value for s in families["portal_tickets"].samples}
    assert scraped == {k: float(v) for k, v in expected.items()}
    assert scraped[("solved", "low")] == 1.0 and scraped[("new", "medium")] == 2.0
    assert families["portal_outbox_failed"].samples[0].value == 1.0
    assert families["portal_sla_breached_open_tickets"].samples[0].value == 0.0
    assert "portal_sla_at_risk_tickets" in families
    depths = {s.labels["queue"]: s.value for s in families["portal_queue_depth"].samples}
    pending = db.session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.status == OutboxStatus.pending)
    )
    assert sum(depths.values()) == pending
    ages = {s.labels["name"]: s.value for s in families["portal_heartbeat_age_seconds"].samples}
    assert heartbeats.worker_name() in ages
    assert "portal_outbox_lag_seconds" in families and "portal_index_lag_seconds" in families

    latency = families["portal_request_duration_seconds"]
    endpoints = {s.labels["endpoint"] for s in latency.samples}
    assert {"main.healthz", "agent.ticket"} <= endpoints
    assert not any("/" in e for e in endpoints)  # never the raw path
    assert agent  # staff exist, the agent page answered (a redirect to sign in counts too)
