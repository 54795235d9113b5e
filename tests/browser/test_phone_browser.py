"""Acceptance: an agent logs a call from the ticket page with the keyboard only, and sees it in the timeline
without a page load (``window.__marker`` survives)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import EventKind, Role, Ticket, TicketEvent
from portal.models.phone import PhoneCall

SUMMARY = "We went through the Scope 2 import together; the file loads now."


def test_agent_logs_an_answered_call_with_the_keyboard(make_org, make_user, make_ticket, sign_in):
    org = make_org(region="EMEA")
    customer = make_user(Role.customer, organization=org, name="Carla Customer")
    agent = make_user(Role.agent, name="Alex Agent")
    ticket = make_ticket(customer, subject="Scope 2 import fails")

    page = sign_in(agent)
    page.goto(f"/agent/tickets/{ticket.reference}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__marker = 42; }")
    version = int(page.locator("#ticket-header").get_attribute("data-version"))

    box = page.locator("#ticket-calls")
    summary = box.locator("summary", has_text="Log a call")
    summary.focus()
    page.keyboard.press("Enter")  # opens the form
    expect(box.locator("#call-number")).to_be_visible()

    page.keyboard.press("Tab")
    expect(box.locator("#call-direction-0")).to_be_focused()  # inbound, the checked radio
    page.keyboard.press("Tab")
    expect(box.locator("#call-number")).to_be_focused()
    page.keyboard.type("+44 20 7946 0000")
    page.keyboard.press("Tab")
    expect(box.locator("#call-duration")).to_be_focused()
    page.keyboard.type("3:30")
    page.keyboard.press("Tab")
    expect(box.locator("#call-outcome")).to_be_focused()  # "Answered" already chosen
    page.keyboard.press("Tab")
    expect(box.locator("#call-customer_answered")).to_be_focused()
    page.keyboard.press("Space")
    expect(box.locator("#call-customer_answered")).to_be_checked()
    page.keyboard.press("Tab")
    expect(box.locator("#call-summary")).to_be_focused()
    page.keyboard.type(SUMMARY)
    page.keyboard.press("Tab")
    expect(box.locator("#call-notes")).to_be_focused()
    page.keyboard.type("Asked about pricing too; passed on to the account manager.")
    page.keyboard.press("Tab")
    expect(box.locator("#call-remember_number")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.locator("#log-call")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#ticket-calls [role=status]")).to_have_text("Call logged.")
    expect(page.locator("#timeline")).to_contain_text(SUMMARY)
    expect(page.locator("#timeline")).to_contain_text("Passed on to the account manager.", ignore_case=True)
    expect(page.locator("#ticket-calls .ticket-calls-list")).to_contain_text("Inbound · Answered · 3:30")
    expect(page.locator("#ticket-header")).not_to_have_attribute("data-version", str(version))
    assert page.evaluate("() => window.__marker") == 42, "the page was reloaded"
    assert page.js_errors == []

    db.session.rollback()
    call = db.session.scalars(select(PhoneCall)).one()
    event = db.session.get(TicketEvent, call.event_id)
    assert event.kind is EventKind.public_reply and SUMMARY in event.body
    assert db.session.get(Ticket, ticket.id).first_response_at is not None
    db.session.refresh(customer)
    assert customer.phone == "+442079460000"


def test_a_refused_call_keeps_the_input_and_says_why(make_user, make_ticket, sign_in):
    customer = make_user(Role.customer)
    agent = make_user(Role.agent)
    ticket = make_ticket(customer)
    page = sign_in(agent)
    page.goto(f"/agent/tickets/{ticket.reference}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#ticket-calls summary").click()
    page.fill("#call-duration", "-4")
    page.fill("#call-notes", "Typed before the error")
    page.locator("#log-call").click()
    expect(page.locator("#ticket-calls")).to_contain_text("The duration cannot be negative.")
    expect(page.locator("#call-notes")).to_have_value("Typed before the error")
    expect(page.locator("#call-duration")).to_have_attribute("aria-invalid", "true")
    db.session.rollback()
    assert db.session.scalars(select(PhoneCall)).first() is None
