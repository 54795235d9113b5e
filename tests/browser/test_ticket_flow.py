"""Acceptance: a ticket's life across the customer portal and the agent workspace, in a real browser.

The agent's inline edits and replies must not load a page: ``window.__marker`` set once survives every step.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import EventKind, Priority, Role, Status, Ticket, TicketEvent, parse_reference

REPLY = "We reset the importer for your organization; please try the CSV again."


def _wait_for_htmx(page: Page) -> None:
    page.wait_for_function("() => window.htmx !== undefined")


def _set_marker(page: Page) -> None:
    _wait_for_htmx(page)
    page.evaluate("() => { window.__marker = 42; }")


def _assert_no_page_load(page: Page) -> None:
    assert page.evaluate("() => window.__marker") == 42, "the page was reloaded: its JavaScript state is gone"


def _version(page: Page) -> int:
    return int(page.locator("#ticket-header").get_attribute("data-version"))


def _badge(page: Page, field: str):
    return page.locator(f"#ticket-header [data-field={field}]")


def _inline_edit(page: Page, field: str, value: str) -> None:
    """Change one property with its select, then wait until the properties panel carries the new version (the
    panel is swapped in place, the header out of band, in the same swap)."""
    before = _version(page)
    page.select_option(f"#field-{field}", value)
    expect(page.locator("#ticket-header")).to_have_attribute("data-version", str(before + 1))
    expect(page.locator(f"#properties form[data-field={field}] input[name=version]")).to_have_value(str(before + 1))


def _fresh_ticket(reference: str) -> Ticket:
    db.session.rollback()  # read what the server committed, not a snapshot from earlier in this test
    ticket = db.session.get(Ticket, parse_reference(reference))
    assert ticket is not None, reference
    return ticket


def test_customer_files_agent_edits_inline_and_replies_customer_confirms(make_org, make_user, sign_in):
    org = make_org(name="Acme Reporting")
    customer = make_user(Role.customer, organization=org, name="Carla Customer")
    agent = make_user(Role.agent, name="Alex Agent")

    # The customer files a ticket.
    portal = sign_in(customer)
    portal.goto("/portal/tickets/new")
    portal.fill("input[name=subject]", "CSV import stops at row 3")
    portal.fill("textarea[name=description]", "Every upload of our 2024 emissions file stops at row 3.")
    portal.select_option("select[name=category]", "data")
    portal.select_option("select[name=priority]", "medium")
    portal.get_by_role("button", name="File ticket").click()
    portal.wait_for_url(re.compile(r"/portal/tickets/[A-Z]+-\d+$"))
    reference = portal.url.rsplit("/", 1)[1]
    expect(portal.locator("h1")).to_contain_text(reference)
    expect(portal.locator("#ticket-status")).to_have_text("New")

    # The agent opens it and edits status and priority inline.
    desk = sign_in(agent)
    desk.goto(f"/agent/tickets/{reference}")
    expect(desk.locator("#ticket-header h1")).to_contain_text("CSV import stops at row 3")
    expect(_badge(desk, "status")).to_have_text("New")
    expect(_badge(desk, "priority")).to_have_text("Medium")
    _set_marker(desk)
    first_version = _version(desk)

    _inline_edit(desk, "status", "pending")
    expect(_badge(desk, "status")).to_have_text("Pending")
    _inline_edit(desk, "priority", "high")
    expect(_badge(desk, "priority")).to_have_text("High")
    _assert_no_page_load(desk)
    assert _version(desk) == first_version + 2
    expect(desk.locator("#field-status")).to_have_value("pending")
    expect(desk.locator("#field-priority")).to_have_value("high")
    expect(desk.locator("#timeline")).to_contain_text("changed status from new to pending")
    expect(desk.locator("#timeline")).to_contain_text("changed priority from medium to high")

    # ... and answers publicly through the composer.
    composer = desk.locator("#composer")
    composer.locator("textarea[name=body]").fill(REPLY)
    expect(composer.locator("input[name=internal]")).not_to_be_checked()
    composer.locator("#send-reply").click()
    expect(desk.locator("#timeline li.public_reply")).to_contain_text(REPLY)
    expect(desk.locator("#composer textarea[name=body]")).to_have_value("")
    _assert_no_page_load(desk)
    assert _version(desk) == first_version + 3

    # The customer sees the reply and confirms the solution.
    portal.reload()
    expect(portal.locator("#timeline")).to_contain_text(REPLY)
    expect(portal.locator("#ticket-status")).to_have_text("Pending")
    portal.get_by_role("button", name="My problem is solved").click()
    expect(portal.locator("#ticket-status")).to_have_text("Solved")
    expect(portal.locator("#flashes")).to_contain_text("the ticket is solved")
    expect(portal.locator("#mark-solved")).to_have_count(0)

    portal.get_by_role("button", name="Sign out").click()
    portal.wait_for_url(re.compile(r"/login$"))

    assert portal.js_errors == [] and desk.js_errors == [], (portal.js_errors, desk.js_errors)

    # The database agrees, and the audit trail holds every step.
    ticket = _fresh_ticket(reference)
    assert ticket.status is Status.solved and ticket.solved_at is not None
    assert ticket.priority is Priority.high
    assert ticket.first_response_at is not None
    events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).all()
    steps = [
        (e.kind, e.field, e.old_value, e.new_value, e.author_id) for e in events if e.kind is EventKind.field_change
    ]
    assert steps == [
        (EventKind.field_change, "status", "new", "pending", agent.id),
        (EventKind.field_change, "priority", "medium", "high", agent.id),
        (EventKind.field_change, "status", "pending", "solved", customer.id),
    ]
    replies = [e for e in events if e.kind is EventKind.public_reply]
    assert [(e.body, e.author_id) for e in replies] == [(REPLY, agent.id)]
    assert ticket.version == first_version + 4
    assert [e.ticket_version for e in events] == sorted(e.ticket_version for e in events)


def test_stale_inline_edit_shows_conflict_and_changes_nothing(make_org, make_user, make_ticket, sign_in):
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    agent = make_user(Role.agent, name="Alex Agent")
    reference = make_ticket(customer, subject="Dashboard totals are wrong").reference

    first = sign_in(agent)
    first.goto(f"/agent/tickets/{reference}")
    stale = first.context.new_page()
    stale.goto(f"/agent/tickets/{reference}")
    expect(stale.locator("#ticket-header")).to_have_attribute("data-version", "1")
    _set_marker(stale)
    _wait_for_htmx(first)

    _inline_edit(first, "priority", "high")
    expect(_badge(first, "priority")).to_have_text("High")

    # The second page still shows version 1: its status change must be refused, not applied over the first.
    stale.select_option("#field-status", "open")
    alert = stale.locator("#properties [role=alert]")
    expect(alert).to_contain_text("Someone else changed this ticket first")
    expect(alert).to_contain_text("priority medium → high")
    # The refused page now shows the latest version, ready for another try.
    expect(stale.locator("#ticket-header")).to_have_attribute("data-version", "2")
    expect(_badge(stale, "priority")).to_have_text("High")
    expect(_badge(stale, "status")).to_have_text("New")
    expect(stale.locator("#field-status")).to_have_value("new")
    expect(stale.locator("#properties form[data-field=status] input[name=version]")).to_have_value("2")
    _assert_no_page_load(stale)
    assert first.js_errors == [] and stale.js_errors == [], (first.js_errors, stale.js_errors)

    ticket = _fresh_ticket(reference)
    assert ticket.status is Status.new
    assert ticket.priority is Priority.high
    assert ticket.version == 2
    changes = db.session.scalars(
        select(TicketEvent.field).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.field_change)
    ).all()
    assert changes == ["priority"]
