"""The webhook admin pages in a real browser: they fit a phone and a laptop (long URLs, ids and answers wrap), pass
axe at phone width, and the secret is shown once after creating a subscription through the form."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role
from portal.models.webhooks import WebhookAttempt, WebhookDelivery
from portal.services.webhooks import events, subscriptions
from tests.browser.test_accessibility import _axe_violations, _with_axe, vendored_axe  # noqa: F401
from tests.browser.test_responsive import HEIGHT, LONG_FILE, WIDTHS, _assert_none, _open, _visit_all


def _seeded(admin) -> list[str]:
    subscription = subscriptions.create(
        admin,
        url=f"https://93.184.216.34/hooks/{LONG_FILE}?tenant=consolidated-northern-hemisphere",
        description="CRM sync for the EMEA account managers",
        chosen=list(events.EVENTS),
    )
    delivery = events.record(
        "ticket.created", {"ticket": {"reference": "ESG-000001", "subject": LONG_FILE}}, [subscription.id]
    )[0]
    db.session.flush()
    delivery.state, delivery.attempts, delivery.last_status, delivery.last_error = "retrying", 1, 500, "HTTP 500"
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id, number=1, status_code=500, outcome="retry", response_excerpt=LONG_FILE * 6
        )
    )
    db.session.commit()
    base = f"/admin/webhooks/{subscription.id}"
    return ["/admin/webhooks", base, f"{base}/deliveries/{delivery.id}"]


def test_webhook_pages_fit_phones_and_pass_axe(app, make_user, sign_in, vendored_axe):  # noqa: F811
    admin = make_user(Role.admin)
    paths = _seeded(admin)
    page = _open(sign_in(admin))
    _assert_none(_visit_all(page, paths))
    assert page.js_errors == []
    page = _with_axe(sign_in(admin))
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    found = []
    for path in paths:
        page.goto(path)
        found += _axe_violations(page)
    assert not found, "\n".join(found)


def test_create_a_subscription_and_see_the_secret_once(app, make_user, sign_in, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_HOSTS", ("127.0.0.1",))
    admin = make_user(Role.admin)
    page = sign_in(admin)
    page.goto("/admin/webhooks")
    page.get_by_label("URL").fill("https://10.0.0.7/hook")
    page.get_by_label(re.compile("ticket.created")).check()
    page.get_by_role("button", name="Create subscription").click()
    expect(page.locator(".field-error")).to_contain_text("private address")
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Create subscription").click()
    secret = page.locator("#webhook-secret")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    value = secret.inner_text()
    page.get_by_role("link", name="Back to the subscription").click()
    expect(page.get_by_role("heading", name="Webhook subscription", exact=True)).to_be_visible()
    assert value not in page.content()
    assert db.session.scalar(db.select(WebhookDelivery)) is None
