"""Every route, one parametrized test each: login-required pages redirect anonymous users; every cookie-authenticated
state-changing endpoint refuses a request without a valid CSRF token."""

import re

import pytest

from portal import create_app
from tests.conftest import _Config, csrf_token, login

PUBLIC_ENDPOINTS = {"static", "main.index", "main.healthz", "main.favicon", "auth.login", "auth.signup", "auth.logout"}
# Reached without a session: public forms, or links whose token authenticates (tested in test_account_flows.py).
PUBLIC_ENDPOINTS |= {
    "auth.resend_verification",
    "auth.verify_email",
    "auth.forgot_password",
    "auth.reset_password",
    "auth.confirm_email_change",
}
PUBLIC_ENDPOINTS |= {"csat.survey"}  # the emailed survey link: its signed token authenticates it (tests/test_csat.py)
# The public status page, its feeds and subscription links (tests/status); readiness for load balancers; metrics with
# their own bearer token or address allow-list (tests/health); one-click unsubscribe links of emails (signed tokens).
PUBLIC_ENDPOINTS |= {
    "status.page",
    "status.incident",
    "status.feed_atom",
    "status.feed_rss",
    "status.subscribe",
    "status.confirm",
    "status.unsubscribe",
    "health.readyz",
    "health.metrics",
    "email.unsubscribe",
}
# RFC 8058 one-click unsubscribe: a mail client POSTs to the link without a session or a CSRF token; the signed token
# in the URL is the authorization. These are the only state-changing endpoints exempt from CSRF.
CSRF_EXEMPT = {"status.unsubscribe", "email.unsubscribe"}
# The support widget (tests/widget): the embed script and the frame are public; the session exchange is
# authenticated by the platform's signed identity, the frame's partials by the X-Widget-Session header, never a cookie.
PUBLIC_ENDPOINTS |= {"widget.script", "widget.frame", "widget.session", "widget.panel", "widget.suggestions"}
PUBLIC_ENDPOINTS |= {"widget.suggestion", "widget.solved", "widget.tickets", "widget.new_ticket", "widget.ticket"}
PUBLIC_ENDPOINTS |= {"widget.reply"}
# Their POSTs carry no cookie-bound CSRF token: a cross-site form cannot set that header, and the token is no ambient
# credential (without it they answer 401: tests/widget/test_frame.py).
CSRF_EXEMPT |= {"widget.session", "widget.solved", "widget.new_ticket", "widget.reply"}
# The hotline's page acknowledgement link: its signed token authenticates it; the confirming POST keeps CSRF.
PUBLIC_ENDPOINTS |= {"oncall.ack_link", "oncall.ack_link_post"}
# The telephony provider's webhook: HMAC-signed requests without cookies (tests/paging), exempt from CSRF like the API.
PUBLIC_ENDPOINTS |= {"hotline_api.calls"}
CSRF_EXEMPT |= {"hotline_api.calls"}
# Live chat's visitor side is shared with the widget frame: a signed-in customer's cookie or the X-Widget-Session
# header (``ws`` for the stream) authenticates it, anonymous requests get 401 (tests/chat/test_access.py). Its POSTs
# check CSRF themselves whenever the cookie authenticates, so they stay in the CSRF test below.
PUBLIC_ENDPOINTS |= {"chat.panel", "chat.stream", "chat.poll", "chat.start", "chat.send", "chat.typing", "chat.end"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _rules():
    app = create_app(_Config)
    return sorted(app.url_map.iter_rules(), key=lambda r: r.rule)


RULES = _rules()
PUBLIC_PREFIXES = ("api.", "kb.")  # the API has its own tokens; the help centre is public (tests/kb test its access)
PAGE_RULES = [r for r in RULES if not r.endpoint.startswith(PUBLIC_PREFIXES) and r.endpoint not in PUBLIC_ENDPOINTS]
CHANGING_RULES = [
    (r, m)
    for r in RULES
    if not r.endpoint.startswith("api.") and r.endpoint != "static" and r.endpoint not in CSRF_EXEMPT
    for m in sorted(r.methods & STATE_CHANGING)
]


def _url(rule, ticket):
    values = {}
    for arg in rule.arguments:
        values[arg] = ticket.reference if arg == "reference" else 1
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


@pytest.fixture
def ticket(make_org, make_user, make_ticket):
    org = make_org()
    return make_ticket(make_user("customer", organization=org))


def test_route_lists_are_not_empty():
    assert len(PAGE_RULES) >= 15 and len(CHANGING_RULES) >= 10


@pytest.mark.parametrize("rule", PAGE_RULES, ids=lambda r: f"{r.endpoint}")
def test_login_required_redirects_anonymous(client, rule, ticket):
    method = "GET" if "GET" in rule.methods else sorted(rule.methods & STATE_CHANGING)[0]
    response = client.open(_url(rule, ticket), method=method)
    if method == "GET":
        assert response.status_code == 302, rule.rule
        assert "/login" in response.headers["Location"]
    else:  # anonymous POST without a token: refused before anything runs
        assert response.status_code in (302, 400), rule.rule


@pytest.mark.parametrize(("rule", "method"), CHANGING_RULES, ids=lambda v: getattr(v, "endpoint", v))
def test_state_changing_endpoints_require_csrf(client, make_user, rule, method, ticket):
    role = "customer" if rule.endpoint.startswith("customer.") else "admin"
    user = make_user(role, organization=ticket.organization if role == "customer" else None)
    assert login(client, user).status_code == 302
    token = csrf_token(client)
    url = _url(rule, ticket)
    data = {"version": ticket.version, "body": "hello", "status": "open", "name": "x"}
    without = client.open(url, method=method, data=data)
    assert without.status_code == 400, (rule.rule, without.status_code)
    assert "expired" in without.text or "CSRF" in without.text
    forged = client.open(url, method=method, data={**data, "csrf_token": "forged"})
    assert forged.status_code == 400
    htmx_forged = client.open(url, method=method, data=data, headers={"HX-Request": "true", "X-CSRFToken": "nope"})
    assert htmx_forged.status_code == 400
    # With the token the request gets past the CSRF check (whatever the view then decides).
    with_token = client.open(url, method=method, data=data, headers={"X-CSRFToken": token})
    assert with_token.status_code != 400 or "expired" not in with_token.text


@pytest.mark.parametrize("endpoint", sorted(CSRF_EXEMPT))
def test_one_click_unsubscribe_refuses_a_forged_token(client, endpoint):
    rule = next(r for r in RULES if r.endpoint == endpoint)
    url = re.sub(r"<(?:[^:>]+:)?token>", "forged-token", rule.rule)
    response = client.post(url, data={})
    assert 400 <= response.status_code < 500, (url, response.status_code)


def test_login_form_itself_requires_csrf(client, make_user):
    user = make_user("customer")
    response = client.post("/login", data={"email": user.email, "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert not response.headers.get("Set-Cookie", "").count("remember_token")
