"""Satisfaction surveys in a real browser: the customer rates a solved ticket from the emailed link and from the
ticket page, a one-star rating reaches the manager (email and follow-up list), and a reopen withdraws the survey.

Emails go through the real job path (outbox row → ``workers.csat`` handler → SMTP) to a local aiosmtpd server; the
links are taken from the delivered email's body."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import CsatSurvey, OutboxMessage, Role, SurveyState
from portal.services import tickets as svc
from workers.inline import run_pending

LINK = re.compile(r"(\d)/5 [^:\n]+: (http\S+)")


@pytest.fixture
def desk(make_org, make_user, make_ticket):
    org = make_org(name="Acme Reporting")
    customer = make_user(Role.customer, organization=org, name="Carla Customer")
    agent = make_user(Role.agent, name="Alex Agent")
    manager = make_user(Role.manager, name="Mona Manager")
    ticket = make_ticket(customer, subject="CSV import stops at row 3")
    svc.assign_ticket(agent, ticket, agent.id, expected_version=ticket.version)
    svc.reply_to_ticket(agent, ticket, "We fixed the importer; please try again.", status="solved")
    db.session.commit()
    return {"customer": customer, "agent": agent, "manager": manager, "ticket": ticket}


def _survey(ticket) -> CsatSurvey:
    db.session.rollback()  # read what the server committed
    return db.session.scalars(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id).order_by("cycle")).all()[-1]


def _links(mailbox, customer) -> dict[int, str]:
    assert run_pending(["notify.csat_survey"]) == 1
    [mail] = [m for m in mailbox.to(customer.email) if "How did we do?" in m["Subject"]]
    links = {int(v): url for v, url in LINK.findall(mail.get_body(("plain",)).get_content())}
    assert sorted(links) == [1, 2, 3, 4, 5]
    return links


def test_customer_rates_from_the_emailed_link(desk, mailbox, new_context):
    links = _links(mailbox, desk["customer"])
    page = new_context().new_page()  # not signed in: the link's token is enough
    page.goto(links[4])
    expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
    expect(page.get_by_label("4 stars — Satisfied")).to_be_checked()
    assert _survey(desk["ticket"]).state is SurveyState.open  # opening the link recorded nothing
    page.get_by_label("Comment (optional)").fill("Quick and clear, thanks.")
    page.get_by_role("button", name="Send rating").click()
    expect(page.locator("#csat-result")).to_contain_text("You rated this 4/5")
    survey = _survey(desk["ticket"])
    assert (survey.rating, survey.comment, survey.source) == (4, "Quick and clear, thanks.", "email")
    page.goto(links[1])  # a later click changes nothing
    expect(page.locator("#csat-result")).to_contain_text("You rated this 4/5")
    assert page.js_errors == []


def test_a_one_star_rating_on_the_ticket_page_reaches_the_manager(desk, mailbox, sign_in):
    portal = sign_in(desk["customer"])
    portal.goto(f"/portal/tickets/{desk['ticket'].reference}")
    survey = portal.locator("#csat")
    expect(survey.get_by_role("group", name="How satisfied are you with the solution?")).to_be_visible()
    # From the keyboard: a radio group moves with the arrow keys.
    portal.get_by_label("2 stars — Dissatisfied").focus()
    portal.keyboard.press("ArrowLeft")
    expect(portal.get_by_label("1 star — Very dissatisfied")).to_be_checked()
    portal.get_by_label("Comment (optional)").fill("Three replies before anyone opened my file.")
    portal.get_by_role("button", name="Send rating").click()
    expect(portal.locator("#csat-result")).to_contain_text("You rated this 1/5")
    expect(portal.locator("#timeline .csat-rating")).to_contain_text("1/5")

    db.session.rollback()
    assert db.session.scalar(select(OutboxMessage.kind).where(OutboxMessage.kind == "notify.csat_low_rating"))
    run_pending()
    for user in (desk["manager"], desk["agent"]):
        assert [m for m in mailbox.to(user.email) if "Low satisfaction rating 1/5" in m["Subject"]]

    manager = sign_in(desk["manager"])
    manager.goto("/reports/csat/follow-up")
    row = manager.locator("#csat-follow-up tbody tr", has_text=desk["ticket"].reference)
    expect(row).to_contain_text("Three replies before anyone opened my file.")
    expect(row).to_contain_text("Alex Agent")
    row.get_by_role("button", name=re.compile("Mark followed up")).click()
    expect(manager.locator("#csat-follow-up-empty")).to_be_visible()
    expect(manager.locator("#csat-followed-up")).to_contain_text("Mona Manager")
    assert _survey(desk["ticket"]).followed_up_by_id == desk["manager"].id

    # Staff see the rating and its follow-up in the ticket's timeline.
    manager.goto(f"/agent/tickets/{desk['ticket'].reference}")
    expect(manager.locator("#timeline .csat-rating")).to_contain_text("Followed up by Mona Manager")
    assert portal.js_errors == [] and manager.js_errors == []


def test_a_reopen_withdraws_the_open_survey(desk, mailbox, sign_in, new_context):
    links = _links(mailbox, desk["customer"])
    portal = sign_in(desk["customer"])
    portal.goto(f"/portal/tickets/{desk['ticket'].reference}")
    expect(portal.locator("#csat")).to_be_visible()
    portal.get_by_role("button", name="Reopen — it is not solved").click()
    expect(portal.locator("#ticket-status")).to_have_text("Open")
    expect(portal.locator("#csat")).to_have_count(0)
    assert _survey(desk["ticket"]).state is SurveyState.withdrawn

    page = new_context().new_page()
    response = page.goto(links[5])
    assert response is not None and response.status == 410
    expect(page.locator("#csat-closed")).to_contain_text("withdrawn because the ticket was reopened")
    expect(page.get_by_role("radio")).to_have_count(0)
