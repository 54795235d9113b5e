"""The URL guard: internal targets are refused when a subscription is saved (a form error) and again at send time
(DNS may have changed), unless allow-listed; the connection goes to the checked address (one lookup); redirects
are followed at most WEBHOOK_MAX_REDIRECTS times, each target checked; credentials never shown back."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from portal.services.webhooks import urls
from tests.conftest import csrf_token, login
from tests.webhooks.conftest import create_subscription, run_jobs

REFUSED = [
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.9/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://[fe80::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_targets_are_refused(app, url):
    with pytest.raises(urls.UnsafeUrl):
        urls.check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "https://user:pw@example.com/x"]
)
def test_other_schemes_and_credentials_are_refused(app, url):
    with pytest.raises(urls.UnsafeUrl):
        urls.check_url(url)


def _resolver(monkeypatch, answers: dict[str, list[str]]):
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(urls.socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_resolving_to_an_internal_address_is_refused(app, monkeypatch):
    _resolver(monkeypatch, {"hooks.partner.example": ["93.184.216.34", "127.0.0.1"]})  # ANY internal address
    with pytest.raises(urls.UnsafeUrl, match="loopback"):
        urls.check_url("https://hooks.partner.example/in")
    _resolver(monkeypatch, {"hooks.partner.example": ["93.184.216.34"]})
    target = urls.check_url("https://hooks.partner.example/in?x=1")
    assert (
        target.addresses == ("93.184.216.34",) and target.path == "/in?x=1" and target.host == "hooks.partner.example"
    )


def test_plain_http_needs_the_allow_list(app, monkeypatch):
    _resolver(monkeypatch, {"hooks.partner.example": ["93.184.216.34"]})
    with pytest.raises(urls.UnsafeUrl, match="https"):
        urls.check_url("http://hooks.partner.example/in")
    assert urls.check_url("http://hooks.partner.example/in", allow=["hooks.partner.example"])
    assert urls.check_url("https://10.9.8.7/in", allow=["10.0.0.0/8"])
    with pytest.raises(urls.UnsafeUrl):
        urls.check_url("https://10.9.8.7/in", allow=["10.1.0.0/16"])


def test_save_refuses_internal_urls_with_a_form_error(app, client, admin):
    login(client, admin)
    token = csrf_token(client, "/admin/webhooks")
    response = client.post(
        "/admin/webhooks",
        data={"url": "https://169.254.169.254/latest", "events": ["ticket.created"], "csrf_token": token},
    )
    assert response.status_code == 422
    assert "cloud metadata address" in response.text and 'aria-invalid="true"' in response.text
    assert db.session.scalar(select(WebhookSubscription)) is None


def test_send_time_check_refuses_when_dns_changed(app, client, admin, receiver, make_user, make_ticket, monkeypatch):
    """Saved while the name resolved to a public address; by the time of the send it resolves to loopback."""
    _resolver(monkeypatch, {"hooks.partner.example": ["93.184.216.34"]})
    login(client, admin)
    create_subscription(client, f"https://hooks.partner.example:{receiver.port}/hook")
    _resolver(monkeypatch, {"hooks.partner.example": ["127.0.0.1"]})
    make_ticket(make_user(Role.customer))
    run_jobs()
    assert receiver.received == []  # nothing reached the (loopback) receiver
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.state == "dead" and "loopback" in delivery.last_error


def test_the_connection_goes_to_the_checked_address(app, receiver, monkeypatch):
    """One lookup per hop: a resolver that would answer differently the second time is never asked again."""
    answers = iter([["127.0.0.1"], ["203.0.113.9"]])
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in next(answers)]

    monkeypatch.setattr(urls.socket, "getaddrinfo", getaddrinfo)
    response = urls.post(
        f"http://rebind.example:{receiver.port}/hook",
        b"{}",
        {"Content-Type": "application/json"},
        timeout=5,
        check=lambda u: urls.check_url(u, allow=["rebind.example"]),
    )
    assert response.status == 200 and calls == ["rebind.example"]
    assert receiver.received[0].headers["Host"] == f"rebind.example:{receiver.port}"


def test_a_redirect_to_loopback_from_an_allow_listed_receiver_is_refused(
    app, client, admin, receiver, make_user, make_ticket, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_HOSTS", ("localhost",))  # the receiver by name only
    receiver.answer("/hook", (307, {"Location": f"http://127.0.0.1:{receiver.port}/internal"}, b""))
    login(client, admin)
    create_subscription(client, receiver.url("/hook", host="localhost"))
    make_ticket(make_user(Role.customer))
    run_jobs()
    assert [r.path for r in receiver.received] == ["/hook"]  # /internal never reached
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.state == "dead" and "Refused" in delivery.last_error


def test_redirects_are_followed_at_most_three_times(app, client, admin, receiver, allow_local, make_user, make_ticket):
    for n in range(1, 5):  # /a1 → /a5: four redirects, one too many
        receiver.answer(f"/a{n}", (308, {"Location": f"/a{n + 1}"}, b""))
    for n in range(1, 4):  # /b1 → /b4: three
        receiver.answer(f"/b{n}", (302, {"Location": receiver.url(f"/b{n + 1}")}, b""))
    login(client, admin)
    too_far, _ = create_subscription(client, receiver.url("/a1"))
    three, _ = create_subscription(client, receiver.url("/b1"), description="three hops")
    make_ticket(make_user(Role.customer))
    run_jobs()
    states = dict(db.session.execute(select(WebhookDelivery.subscription_id, WebhookDelivery.state)).all())
    assert states == {too_far: "dead", three: "delivered"}
    paths = [r.path for r in receiver.received]
    assert "/a5" not in paths and paths.count("/b4") == 1
    hops = [r for r in receiver.received if r.path.startswith("/b")]
    assert len(hops) == 4 and len({(r.id, r.body) for r in hops}) == 1  # the same delivery POSTed at each hop
    error = db.session.scalar(select(WebhookDelivery.last_error).where(WebhookDelivery.subscription_id == too_far))
    assert "More than 3 redirects" in error


def test_credentials_are_refused_and_never_shown(app, client, admin, allow_local, receiver):
    login(client, admin)
    token = csrf_token(client, "/admin/webhooks")
    url = f"http://user:hunter2@127.0.0.1:{receiver.port}/hook"
    response = client.post("/admin/webhooks", data={"url": url, "events": ["ticket.created"], "csrf_token": token})
    assert response.status_code == 422 and "Credentials" in response.text
    assert urls.redact(url) == f"http://127.0.0.1:{receiver.port}/hook"


def test_the_secret_is_shown_once(app, client, admin, allow_local, receiver, caplog):
    login(client, admin)
    sid, secret = create_subscription(client, receiver.url())
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret not in client.get(f"/admin/webhooks/{sid}").text
    assert secret not in client.get("/admin/webhooks").text
    path = f"/admin/webhooks/{sid}"
    rotated = client.post(f"{path}/rotate", data={"csrf_token": csrf_token(client, path)})
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    assert secret not in rotated.text and "whsec_" in rotated.text
    assert db.session.scalar(select(WebhookAttempt)) is None
    assert secret not in caplog.text
