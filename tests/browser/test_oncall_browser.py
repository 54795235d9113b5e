"""Acceptance in a browser at phone width: an agent files a hotline call by hand, lands on the critical ticket,
sees who was paged and acknowledges with the button (htmx, no page load); the pages pass axe; the emailed link
shows a confirm page that acknowledges only on its button."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import OnCall, Role, Ticket, utcnow
from portal.models.paging import OnCallLevel, Page, PageState
from portal.services.paging import pages as paging_pages
from tests.browser.test_accessibility import _axe_violations, _with_axe, vendored_axe  # noqa: F401

PHONE = {"width": 390, "height": 844}


def _team(make_user, make_org):
    org = make_org("Acme")
    primary = make_user(Role.senior_agent, name="Priya Shah", phone="+14155550101")
    agent = make_user(Role.agent, name="Alex Agent")
    make_user(Role.customer, organization=org, name="Casey Client", phone="+15555550199")
    now = utcnow()
    db.session.add(
        OnCall(user_id=primary.id, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=8),
               level=OnCallLevel.primary)
    )  # fmt: skip
    db.session.commit()
    return primary, agent


def test_agent_files_a_hotline_call_and_acknowledges_the_page(make_user, make_org, sign_in, vendored_axe):  # noqa: F811
    _primary, agent = _team(make_user, make_org)
    page = sign_in(agent)
    page.set_viewport_size(PHONE)
    _with_axe(page)
    page.goto("/ops/hotline/new")
    assert _axe_violations(page) == []
    page.get_by_label("Caller's number").fill("+1 555 555 0199")
    page.get_by_label("Caller's name").fill("Casey")
    page.get_by_label("What is happening").fill("The emissions dashboard is down for everyone.")
    page.get_by_role("button", name="File and page on call").click()
    expect(page).to_have_url(re.compile(r"/agent/tickets/ESG-\d+$"))
    box = page.locator("#ticket-pages")
    expect(box).to_contain_text("Priya Shah (primary)")
    expect(box).to_contain_text("Awaiting acknowledgement")
    assert _axe_violations(page) == []
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__marker = 42; }")
    box.get_by_role("button", name="Acknowledge the page").click()
    expect(page.locator("#ticket-pages")).to_contain_text("Acknowledged")
    expect(page.locator("#ticket-pages").get_by_role("button")).to_have_count(0)
    assert page.evaluate("() => window.__marker") == 42  # no page load
    db.session.expire_all()
    ticket = db.session.scalar(select(Ticket))
    assert ticket.priority.value == "critical"
    assert db.session.scalar(select(Page)).state is PageState.acknowledged

    page.goto("/ops/on-call")
    expect(page.locator("#on-call-now")).to_contain_text("Priya Shah")
    assert _axe_violations(page) == []
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.js_errors == []


def test_the_link_page_asks_before_it_acknowledges(make_user, make_org, new_context, vendored_axe, app):  # noqa: F811
    primary, agent = _team(make_user, make_org)
    from portal.services.paging import hotline

    record, _new = hotline.take_call(hotline.manual_call("+1 555 555 0199", "Casey", "", "Down"), taken_by=agent)
    db.session.commit()
    page_row = paging_pages.page_of_ticket(record.ticket)
    token = paging_pages.ack_token(page_row.attempts[0])
    page = new_context().new_page()
    page.set_viewport_size(PHONE)
    _with_axe(page)
    page.goto(f"/ops/pages/{page_row.id}/ack/{token}")
    expect(page.get_by_role("heading", name="Hotline page")).to_be_visible()
    assert _axe_violations(page) == []
    db.session.expire_all()
    assert db.session.get(Page, page_row.id).state is PageState.open  # looking changed nothing
    with page.expect_navigation():
        page.get_by_role("button", name="Acknowledge: I am on it").click()
    expect(page.get_by_role("status")).to_contain_text("the escalation stopped")
    db.session.expire_all()
    assert db.session.get(Page, page_row.id).acknowledged_by_id == primary.id
