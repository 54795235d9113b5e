"""Two-factor authentication in a real browser: a customer sets up an authenticator (code computed with pyotp from
the key the page shows), signs out and signs in again with the password and a fresh code; a manager whose role
requires it reaches no page, partial or htmx request before finishing enrolment."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import _assert_clean, _axe_violations, _with_axe, vendored_axe  # noqa: F401
from tests.conftest import PASSWORD


def _secret(page) -> str:
    return page.locator("#totp-secret").inner_text().replace(" ", "")


def _enrol(page) -> str:
    """On the enrolment page: check the QR code, type the current code, see the ten recovery codes once."""
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 100  # the SVG really renders under the CSP
    secret = _secret(page)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("li")
    expect(codes).to_have_count(10)
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", codes.first.inner_text().strip())
    return secret


def test_enrol_sign_out_and_sign_in_with_password_and_a_fresh_code(make_user, sign_in):
    customer = make_user("customer", name="Tess Totp")
    page = sign_in(customer)
    page.goto("/profile")
    expect(page.get_by_text("Two-factor authentication is off")).to_be_visible()
    page.get_by_role("link", name="Set up two-factor authentication").click()
    secret = _enrol(page)
    page.get_by_role("link", name=re.compile("back to my profile")).click()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()
    expect(page.get_by_text("10 unused recovery codes")).to_be_visible()

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.goto("/login")
    page.fill("input[name=email]", customer.email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    assert page.url.endswith("/login/two-factor")
    page.goto("/portal/")  # the password alone signed nobody in
    assert "/login" in page.url

    page.goto("/login/two-factor")
    assert page.url.endswith("/login/two-factor")
    # The enrolment code's step is spent: use the next step's code (accepted one step early), never a reuse.
    page.get_by_label("Authentication code or recovery code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    page.goto("/portal/")
    assert page.url.endswith("/portal/")
    expect(page.get_by_role("link", name="Tess Totp")).to_be_visible()
    assert page.js_errors == []


@pytest.fixture
def two_factor_required(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_REQUIRED_ROLES", "manager,admin")  # restored after the test


def test_a_manager_reaches_nothing_before_completing_two_factor(make_user, sign_in, two_factor_required):
    manager = make_user("manager", name="Mona Manager")
    page = sign_in(manager)
    assert page.url.endswith("/profile/two-factor")
    for path in ("/agent/", "/reports/", "/admin/", "/admin/users", "/profile"):
        page.goto(path)
        assert page.url.endswith("/profile/two-factor"), path
        expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    # An htmx partial and a boosted link (the header's Queue link): the answer makes the browser load the enrolment
    # page afresh (the marker set on this document is gone), nothing is swapped in.
    for action in (
        lambda: page.evaluate("htmx.ajax('GET', '/agent/queue/counts', {target: 'main', swap: 'innerHTML'})"),
        lambda: page.get_by_role("link", name="Queue").click(),
    ):
        page.evaluate("window.beforeGate = true")
        with page.expect_navigation():
            action()
        page.wait_for_function("typeof window.beforeGate === 'undefined'")
        assert page.url.endswith("/profile/two-factor")
        expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()

    _enrol(page)
    page.goto("/agent/")
    assert "/agent/queue" in page.url
    page.goto("/admin/")
    assert page.url.endswith("/admin/")
    assert page.js_errors == []


def test_two_factor_pages_have_no_serious_accessibility_violations(make_user, new_context, vendored_axe):  # noqa: F811
    customer = make_user("customer", name="Ann Axe")
    page = _with_axe(new_context().new_page())
    page.goto("/login")
    page.fill("input[name=email]", customer.email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.goto("/profile/two-factor")
    found = _axe_violations(page)
    _enrol(page)
    found += _axe_violations(page)  # the recovery codes
    page.goto("/profile")  # two-factor on: new codes, turn off
    found += _axe_violations(page)
    page.get_by_label("Current authenticator code", exact=True).first.fill("000000")
    with page.expect_navigation():
        page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()
    found += _axe_violations(page)  # with a field error
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.goto("/login")
    page.fill("input[name=email]", customer.email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code or recovery code").fill("000000")
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    found += _axe_violations(page)  # the second step, with its error
    _assert_clean(found)
