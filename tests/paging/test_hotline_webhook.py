"""The telephony provider's webhook: signed, fresh, well-formed calls become one critical ticket each and page on
call; anything else is refused with a JSON error and changes nothing."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Channel, OutboxMessage, Priority, Ticket, TicketEvent, User
from portal.models.paging import HotlineCall, Page
from portal.services.notifications import wants_email
from tests.incidents.conftest import rerun
from tests.paging.conftest import payload, post_call, rota, run_jobs


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _nothing_created():
    assert _count(Ticket) == 0 and _count(HotlineCall) == 0 and _count(Page) == 0 and _count(OutboxMessage) == 0


def test_bad_signature_is_refused_and_creates_nothing(client, team):
    rota(team)
    response = post_call(client, payload(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "bad_signature"
    _nothing_created()


def test_missing_or_malformed_signature_headers_are_refused(client, team):
    body = json.dumps(payload()).encode()
    assert client.post("/api/v1/hotline/calls", data=body, content_type="application/json").status_code == 401
    response = post_call(client, payload(), signature="v1=" + "0" * 64)
    assert response.status_code == 401
    response = client.post(
        "/api/v1/hotline/calls",
        data=body,
        content_type="application/json",
        headers={"X-Hotline-Timestamp": "yesterday", "X-Hotline-Signature": "v1=00"},
    )
    assert response.status_code == 401 and "error" in response.json
    _nothing_created()


def test_body_changed_after_signing_is_refused(client, team):
    stamp = str(int(time.time()))
    from portal.services.paging.hotline import sign

    signed = sign("test-hotline-secret", stamp, json.dumps(payload()).encode())
    tampered = json.dumps(payload(caller_name="Mallory")).encode()
    response = client.post(
        "/api/v1/hotline/calls",
        data=tampered,
        content_type="application/json",
        headers={"X-Hotline-Timestamp": stamp, "X-Hotline-Signature": signed},
    )
    assert response.status_code == 401
    _nothing_created()


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_stale_timestamp_is_refused(client, team, age):
    response = post_call(client, payload(), timestamp=int(time.time()) - age)
    assert response.status_code == 401
    assert "seconds" in response.json["error"]["message"]
    _nothing_created()


def test_unconfigured_secret_refuses_everything(app, client, team, monkeypatch):
    monkeypatch.setitem(app.config, "HOTLINE_WEBHOOK_SECRET", None)
    assert post_call(client, payload()).status_code == 401
    _nothing_created()


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        (b"not json at all", 400, None),
        ([1, 2, 3], 422, "body"),
        ({"from": "+15555550199", "started_at": "2026-03-02T09:59:00Z"}, 422, "call_id"),
        (payload(**{"from": None}), 422, "from"),
        (payload(started_at="last tuesday"), 422, "started_at"),
        (payload(started_at="2026-03-02T09:59:00"), 422, "started_at"),  # no zone
        (payload(caller_email="not-an-address"), 422, "caller_email"),
        (payload(call_id={"nested": True}), 422, "call_id"),
        (payload(call_id="has spaces and ; semicolons"), 422, "call_id"),
        (payload(summary="x" * 20_001), 422, "summary"),
        (payload(caller_name="bad\x00byte"), 422, "caller_name"),
    ],
)
def test_malformed_payload_is_a_json_4xx(client, team, data, status, field):
    response = post_call(client, data)
    assert response.status_code == status, response.text
    assert "error" in response.json
    if field:
        assert field in response.json["error"]["fields"]
    _nothing_created()


def test_good_call_files_a_critical_ticket_and_pages_every_channel_once(client, team, channels):
    rota(team)
    response = post_call(client, payload())
    assert response.status_code == 201, response.text
    ticket = db.session.get(Ticket, response.json["ticket"]["id"])
    assert ticket.priority is Priority.critical and ticket.channel is Channel.phone
    assert ticket.requester_id == team.customer.id  # found by users.phone (E.164 of "+1 (555) 555-0199")
    assert response.json["page"]["paged"] == [
        {"name": "Priya Shah", "step": "primary", "channels": ["slack", "email", "sms"]}
    ]
    notes = db.session.scalars(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id)).all()
    assert any(n.startswith("Paged Priya Shah (primary on-call) by Slack, email and SMS.") for n in notes)

    run_jobs()
    rerun(["paging.page"])  # the page job runs again (a retry): nothing is sent twice
    sms = channels.sms.received
    assert len(sms) == 1 and sms[0]["body"]["to"] == "+14155550101"
    assert sms[0]["authorization"] == "Bearer sms-token"
    assert ticket.reference in sms[0]["body"]["text"] and "/ops/pages/" in sms[0]["body"]["text"]
    mails = [m for m in channels.mail.to(team.primary.email) if m["Subject"].startswith("PAGE")]
    assert len(mails) == 1, [m["Subject"] for m in channels.mail.messages]
    assert "/ops/pages/" in mails[0].get_body(("plain",)).get_content()
    pages_posted = [m for m in channels.slack.received if m["text"].startswith("PAGE")]
    assert len(pages_posted) == 1 and "Priya Shah" in pages_posted[0]["text"]
    assert not [m for m in channels.mail.messages if m["Subject"].startswith("PAGE") and m["To"] != team.primary.email]


def test_the_same_call_id_twice_makes_one_ticket(client, team):
    rota(team)
    first = post_call(client, payload())
    again = post_call(client, payload(summary="re-sent by the provider"))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["duplicate"] is True
    assert again.json["ticket"] == first.json["ticket"]
    assert _count(Ticket) == 1 and _count(HotlineCall) == 1 and _count(Page) == 1
    other = post_call(client, payload(call_id="CA-1002"))
    assert other.status_code == 201 and _count(Ticket) == 2


def test_caller_by_email_when_the_number_is_unknown(client, team):
    rota(team)
    response = post_call(client, payload(**{"from": "+44 20 7946 0000"}, caller_email=team.other.email.upper()))
    assert response.status_code == 201
    assert response.json["requester"]["id"] == team.other.id


def test_unknown_caller_with_an_email_gets_a_customer_account_in_its_domains_organization(client, team):
    rota(team)
    response = post_call(client, payload(**{"from": "+44 20 7946 0000"}, caller_email="new.person@acme.test"))
    user = db.session.get(User, response.json["requester"]["id"])
    assert user.email == "new.person@acme.test" and user.organization_id == team.acme.id
    assert user.phone == "+442079460000"  # the next call from this number finds them


def test_unknown_caller_without_email_is_a_placeholder_kept_for_the_number(client, team):
    rota(team)
    first = post_call(client, payload(**{"from": "+61 2 9999 0000"}, caller_name=None))
    user = db.session.get(User, first.json["requester"]["id"])
    assert user.name == "Hotline caller +61299990000" and user.email.endswith("@hotline.invalid")
    assert user.is_customer and not wants_email(user, "email_ticket_updates")
    again = post_call(client, payload(call_id="CA-2", **{"from": "+61 2 9999 0000"}))
    assert again.json["requester"]["id"] == user.id
    withheld = post_call(client, payload(call_id="CA-3", **{"from": "anonymous"}))
    assert withheld.status_code == 201
    assert db.session.get(User, withheld.json["requester"]["id"]).name == "Hotline caller (number withheld)"
