"""The webhook pages are the admins' alone: agents, senior agents, managers and customers are refused on every
page and form; anonymous visitors go to the sign-in page; forms need their CSRF token; unknown ids are 404s."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.models.webhooks import WebhookDelivery, WebhookSubscription
from tests.conftest import csrf_token, login
from tests.webhooks.conftest import create_subscription, run_jobs


def _paths(sid: int, did: int) -> tuple[list[str], list[str]]:
    base = f"/admin/webhooks/{sid}"
    gets = ["/admin/webhooks", base, f"{base}/deliveries/{did}"]
    posts = [
        "/admin/webhooks",
        base,
        f"{base}/rotate",
        f"{base}/ping",
        f"{base}/delete",
        f"{base}/deliveries/{did}/redeliver",
    ]
    return gets, posts


@pytest.fixture
def seeded(client, subscribed, receiver, make_user, make_ticket):
    sid, _secret = subscribed
    make_ticket(make_user(Role.customer))
    run_jobs()
    did = db.session.scalar(select(WebhookDelivery.id))
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    return sid, did


@pytest.mark.parametrize("role", [Role.agent, Role.senior_agent, Role.manager, Role.customer])
def test_everyone_but_admins_is_refused(app, client, seeded, make_user, role):
    sid, did = seeded
    login(client, make_user(role))
    token = csrf_token(client)
    gets, posts = _paths(sid, did)
    for path in gets:
        assert client.get(path).status_code == 403, path
    for path in posts:
        assert client.post(path, data={"csrf_token": token, "url": "https://example.com"}).status_code == 403, path
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sid) is not None


def test_anonymous_visitors_sign_in_first(app, client, seeded):
    sid, did = seeded
    gets, _posts = _paths(sid, did)
    for path in gets:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_admin_pages_and_csrf(app, client, seeded, admin):
    sid, did = seeded
    login(client, admin)
    gets, posts = _paths(sid, did)
    for path in gets:
        assert client.get(path).status_code == 200, path
    for path in posts:
        assert client.post(path, data={"url": "https://example.com"}).status_code == 400, path  # no token
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sid) is not None


def test_unknown_ids_are_404(app, client, seeded, admin, receiver):
    sid, did = seeded
    login(client, admin)
    other, _ = create_subscription(client, receiver.url("/other"))
    assert client.get(f"/admin/webhooks/{sid + 1000}").status_code == 404
    assert client.get(f"/admin/webhooks/{other}/deliveries/{did}").status_code == 404  # not its delivery
    token = csrf_token(client, "/admin/webhooks")
    assert (
        client.post(f"/admin/webhooks/{other}/deliveries/{did}/redeliver", data={"csrf_token": token}).status_code
        == 404
    )


def test_edit_validation_and_delete(app, client, seeded, admin):
    sid, _did = seeded
    login(client, admin)
    path = f"/admin/webhooks/{sid}"
    token = csrf_token(client, path)
    bad = client.post(path, data={"url": "https://10.0.0.1/x", "events": ["nope"], "csrf_token": token})
    assert bad.status_code == 422 and "Unknown event" in bad.text and "private address" in bad.text
    gone = client.post(f"{path}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sid) is None
    assert db.session.scalar(select(WebhookDelivery)) is None  # the log goes with it
