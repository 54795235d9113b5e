"""Sign-up and password reset in a real browser, with the emails delivered to a local aiosmtpd server.

A person signing up with an organization's domain cannot sign in, and sees nothing of the organization, until they
follow the emailed link; when the organization approves its members they still see nothing of it until an
organization admin approves the request. A forgotten password is reset from the emailed link. Emails go through
the real job path (outbox row → ``workers.accounts`` handler → SMTP); the links come from the delivered bodies."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.models import Role
from workers.inline import run_pending

PASSPHRASE = "lighthouse-orchard-velvet-17"


def _mail_link(mailbox, address: str, subject: str, path: str) -> str:
    run_pending()
    mails = [m for m in mailbox.to(address) if m["Subject"] == subject]
    assert len(mails) == 1, [m["Subject"] for m in mailbox.to(address)]
    assert mails[0]["Auto-Submitted"] == "auto-generated"
    match = re.search(r"(http\S+" + re.escape(path) + r"\S+)", mails[0].get_body(("plain",)).get_content())
    assert match, "no link in the email"
    return match.group(1)


def _sign_up(page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Full name").fill("Nora Newcomer")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill(PASSPHRASE)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#flashes")).to_contain_text("We sent a link to your address")


def _try_sign_in(page, email: str, password: str = PASSPHRASE) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _follow_confirmation(page, url: str, expected: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Confirm your address")).to_be_visible()
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.locator("#flashes")).to_contain_text(expected)


@pytest.fixture
def organization(make_org, make_user, make_ticket):
    def make(join_policy: str):
        org = make_org("Acme Reporting", "acme-reporting.test", join_policy=join_policy)
        colleague = make_user(Role.customer, organization=org, name="Carla Colleague")
        make_ticket(colleague, subject="Quarterly emissions export is empty")
        admin = make_user(Role.customer, organization=org, name="Olga Orgadmin", is_org_admin=True)
        return org, admin

    return make


def test_signing_up_needs_the_emailed_link_before_the_organization_shows(organization, mailbox, new_context):
    organization("automatic")
    page = new_context().new_page()
    _sign_up(page, "nora@acme-reporting.test")

    _try_sign_in(page, "nora@acme-reporting.test")
    expect(page.get_by_role("link", name="Send a new confirmation link")).to_be_visible()
    assert "/login" in page.url
    page.goto("/portal/tickets")
    assert "/login" in page.url  # not signed in: nothing of the organization

    link = _mail_link(mailbox, "nora@acme-reporting.test", "Confirm your email address", "/verify/")
    _follow_confirmation(page, link, "You can sign in now")
    _try_sign_in(page, "nora@acme-reporting.test")
    expect(page.get_by_role("heading", name="Hello, Nora Newcomer")).to_be_visible()
    page.goto("/portal/tickets")
    expect(page.get_by_text("Quarterly emissions export is empty")).to_be_visible()

    page.goto(link)  # the link worked once
    expect(page.locator("#link-refused")).to_contain_text("expired or was already used")
    assert page.js_errors == []


def test_with_approval_the_organization_shows_only_after_an_org_admin_approves(
    organization, mailbox, new_context, sign_in
):
    _org, org_admin = organization("approval")
    page = new_context().new_page()
    _sign_up(page, "nora@acme-reporting.test")
    link = _mail_link(mailbox, "nora@acme-reporting.test", "Confirm your email address", "/verify/")
    _follow_confirmation(page, link, "Acme Reporting approves its new members")

    _try_sign_in(page, "nora@acme-reporting.test")
    expect(page.get_by_role("status").filter(has_text="waits for approval")).to_be_visible()
    page.goto("/portal/tickets")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text("Quarterly emissions export is empty")).to_have_count(0)

    admin = sign_in(org_admin)
    admin.goto("/portal/organization/members")
    row = admin.locator("#join-requests tbody tr", has_text="nora@acme-reporting.test")
    row.get_by_role("button", name=re.compile("^Approve")).click()
    expect(admin.locator("#flashes")).to_contain_text("Nora Newcomer joined Acme Reporting")
    expect(admin.locator("#join-requests-empty")).to_be_visible()

    page.goto("/portal/tickets")
    expect(page.get_by_text("Quarterly emissions export is empty")).to_be_visible()
    run_pending()
    assert [m for m in mailbox.to("nora@acme-reporting.test") if m["Subject"] == "You joined Acme Reporting"]
    assert page.js_errors == [] and admin.js_errors == []


def test_a_forgotten_password_is_reset_from_the_emailed_link(make_user, mailbox, new_context):
    user = make_user(Role.customer, name="Rita Reset")
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#flashes")).to_contain_text("we sent it a link to choose a new password")

    link = _mail_link(mailbox, user.email, "Reset your password", "/password/reset/")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("password123")  # a common one: refused
    page.get_by_label("Repeat the new password").fill("password123")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator(".field-error")).to_contain_text("most common")
    page.get_by_label("New password", exact=True).fill(PASSPHRASE)
    page.get_by_label("Repeat the new password").fill(PASSPHRASE)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#flashes")).to_contain_text("Your password is changed")

    _try_sign_in(page, user.email, PASSPHRASE)
    expect(page.get_by_role("heading", name="Hello, Rita Reset")).to_be_visible()
    page.goto(link)  # used: refused, with a way to ask again
    expect(page.locator("#link-refused")).to_contain_text("expired or was already used")
    expect(page.get_by_role("link", name="Ask for a new password-reset link")).to_be_visible()
    assert page.js_errors == []
