"""Subscriptions end to end with a real SMTP server: subscribe → confirmation email → confirm (double opt-in) →
an incident update mailed once even when its job runs twice → one-click unsubscribe (RFC 8058) → nothing more."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ComponentState, NotificationDelivery, OutboxMessage, StatusSubscriber, utcnow
from portal.services import outbox
from portal.services.status import subscriptions
from tests.conftest import csrf_from
from tests.status.conftest import add_incident, add_update
from workers.inline import run_pending
from workers.registry import dispatch


def subscribe(client, email: str, components: list[int] | None = None):
    page = client.get("/status/subscribe")
    data = {"email": email, "csrf_token": csrf_from(page.text), "scope": "some" if components else "all"}
    if components:
        data["components"] = [str(c) for c in components]
    return client.post("/status/subscribe", data=data)


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def link(message, part: str) -> str:
    url = re.search(r"(http://portal\.test\S*" + re.escape(part) + r"\S*)", body(message)).group(1)
    return urlsplit(url).path


def confirm(client, mailbox, address: str) -> None:
    run_pending(["status.confirm"])
    path = link(mailbox.to(address)[-1], "/status/confirm/")
    page = client.get(path)
    assert page.status_code == 200 and "Confirm" in page.text
    done = client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "You are subscribed" in done.text


def notify(update) -> OutboxMessage:
    """The incidents service's outbox row for a public update."""
    message = outbox.emit("status.incident_update", {"update_id": update.id})
    db.session.commit()
    return message


def test_subscribe_confirm_notify_once_then_one_click_unsubscribe(client, components, mailbox):
    response = subscribe(client, "Reader@Example.test", [components["API"].id])
    assert response.status_code == 200 and "Check your inbox" in response.text
    subscriber = db.session.scalar(select(StatusSubscriber))
    assert subscriber.email == "reader@example.test" and subscriber.confirmed_at is None
    assert subscriber.confirm_token_hash and len(subscriber.confirm_token_hash) == 64  # only a digest is stored
    [row] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "status.confirm"))
    assert row.payload == {"subscriber_id": subscriber.id}  # no token in the outbox
    confirm(client, mailbox, "reader@example.test")
    db.session.expire_all()
    assert subscriber.confirmed_at is not None and subscriber.confirm_token_hash == ""

    incident = add_incident("API errors", [(components["API"], ComponentState.major_outage)])
    message = notify(add_update(incident, "We are rolling back the API release."))
    dispatch("status.incident_update", message.payload, message.id)
    dispatch("status.incident_update", message.payload, message.id)  # the job runs again: nothing more is sent
    notices = [m for m in mailbox.to("reader@example.test") if "API errors" in m["Subject"]]
    assert len(notices) == 1
    notice = notices[0]
    assert "We are rolling back the API release." in body(notice)
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = notice["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("http://portal.test/status/unsubscribe/")

    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie and no CSRF token
    client.delete_cookie("session")
    one_click = client.post(urlsplit(unsubscribe_url).path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
    db.session.expire_all()
    assert subscriber.unsubscribed_at is not None

    later = notify(add_update(incident, "Still rolling back."))
    dispatch("status.incident_update", later.payload, later.id)
    assert not [m for m in mailbox.to("reader@example.test") if "Still rolling back." in body(m)]


def test_only_subscribers_of_the_incidents_components_or_of_all_are_mailed(client, components, mailbox):
    for address, chosen in (
        ("api@example.test", [components["API"].id]),
        ("login@example.test", [components["Login"].id]),
        ("all@example.test", None),
        ("unconfirmed@example.test", None),
    ):
        subscribe(client, address, chosen)
        if address != "unconfirmed@example.test":
            confirm(client, mailbox, address)
    incident = add_incident("API errors", [(components["API"], ComponentState.degraded)])
    message = notify(add_update(incident, "Degraded API."))
    dispatch("status.incident_update", message.payload, message.id)
    mailed = sorted(m["To"] for m in mailbox.messages if "Degraded API." in body(m))
    assert mailed == ["all@example.test", "api@example.test"]
    sent = db.session.scalar(
        select(func.count(NotificationDelivery.id)).where(NotificationDelivery.outbox_id == message.id)
    )
    assert sent == 2


def test_an_internal_incident_mails_nobody(client, components, mailbox):
    subscribe(client, "all@example.test")
    confirm(client, mailbox, "all@example.test")
    incident = add_incident("Internal", [(components["API"], ComponentState.degraded)], public=False)
    message = notify(add_update(incident, "Secret."))
    dispatch("status.incident_update", message.payload, message.id)
    assert not [m for m in mailbox.messages if "Secret." in body(m)]


def test_the_same_answer_whether_the_address_is_subscribed(client, components, mailbox):
    subscribe(client, "known@example.test")
    confirm(client, mailbox, "known@example.test")
    known = subscribe(client, "known@example.test", [components["API"].id])
    fresh = subscribe(client, "fresh@example.test", [components["API"].id])
    assert known.status_code == fresh.status_code == 200
    strip = lambda text: text.replace("known@example.test", "X").replace("fresh@example.test", "X")  # noqa: E731
    assert strip(known.text.split("<main")[1]) == strip(fresh.text.split("<main")[1])
    run_pending(["status.confirm"])
    assert "already" in body(mailbox.to("known@example.test")[-1])  # the owner is told, nothing changed
    known_row = db.session.scalar(select(StatusSubscriber).where(StatusSubscriber.email == "known@example.test"))
    assert known_row.all_components is True and known_row.confirmed_at is not None


def test_a_confirmation_link_works_once_and_expires(app, client, components, mailbox):
    subscribe(client, "once@example.test")
    run_pending(["status.confirm"])
    path = link(mailbox.to("once@example.test")[-1], "/status/confirm/")
    token = path.rsplit("/", 1)[1]
    with time_machine.travel(utcnow() + timedelta(hours=app.config["EMAIL_VERIFY_HOURS"], minutes=1)):
        assert client.get(path).status_code == 410
    page = client.get(path)
    assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code == 200
    assert client.get(path).status_code == 410
    assert client.get(path[:-3] + "xyz").status_code == 410
    assert subscriptions.subscriber_for_manage  # the manage link is a different token
    assert client.get(f"/status/unsubscribe/{token}").status_code == 404


def test_the_link_page_changes_components(client, components, mailbox):
    subscribe(client, "pick@example.test")
    confirm(client, mailbox, "pick@example.test")
    subscriber = db.session.scalar(select(StatusSubscriber))
    path = f"/status/manage/{subscriptions.manage_token(subscriber)}"
    page = client.get(f"/status/unsubscribe/{subscriptions.manage_token(subscriber)}")
    assert page.status_code == 200 and "Unsubscribe" in page.text and 'name="components"' in page.text
    token = csrf_from(page.text)
    assert client.post(path, data={"scope": "all"}).status_code == 400  # the component choice takes a CSRF token
    response = client.post(
        path, data={"scope": "some", "components": [str(components["Login"].id)], "csrf_token": token}
    )
    assert response.status_code == 200 and "saved" in response.text
    db.session.expire_all()
    assert subscriber.all_components is False and subscriber.component_ids == [components["Login"].id]
    assert client.post(path, data={"scope": "some", "csrf_token": token}).status_code == 422
    assert client.post("/status/manage/1.forged", data={"scope": "all", "csrf_token": token}).status_code == 404


def test_subscribing_is_throttled_per_client_address(app, client, components, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_RATE_LIMIT", "2 per hour")
    assert subscribe(client, "a@example.test").status_code == 200
    assert subscribe(client, "b@example.test").status_code == 200
    refused = subscribe(client, "c@example.test")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert db.session.scalar(select(func.count(StatusSubscriber.id))) == 2


def test_bad_input_is_a_form_message(client, components):
    page = client.get("/status/subscribe")
    token = csrf_from(page.text)
    bad = client.post("/status/subscribe", data={"email": "not an address", "csrf_token": token})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    none = client.post("/status/subscribe", data={"email": "x@example.test", "scope": "some", "csrf_token": token})
    assert none.status_code == 422
    forged = client.post(
        "/status/subscribe", data={"email": "x@example.test", "scope": "some", "components": "abc", "csrf_token": token}
    )
    assert forged.status_code == 422
    assert client.post("/status/subscribe", data={"email": "x@example.test"}).status_code == 400  # no CSRF token
