"""Acceptance in a real browser: suggestions appear while a customer types a ticket; one customer is helped by an
article ("This solved my problem": no ticket, a deflection), another ignores the suggestions and files."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, Ticket
from portal.models.kb import Deflection, TicketSuggestion
from tests.search.conftest import kb_category, make_article, run_index_jobs, search_index  # noqa: F401  (empty indexes)

ARTICLE = "Exporting a GRI report to Word"


def _count(model) -> int:
    db.session.rollback()  # read what the server committed
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_customer_is_helped_by_a_suggestion_and_another_files(
    make_org,
    make_user,
    make_article,  # noqa: F811
    run_index_jobs,  # noqa: F811  (the fixture imported above)
    sign_in,
):
    make_article(
        ARTICLE,
        "Open **Reports → GRI**, choose *Export* and pick Word. The export keeps your tables.",
        category="reporting",
    )
    make_article("GRI report internals", "Internal GRI notes for agents.", internal=True)
    run_index_jobs()
    org = make_org()
    helped = make_user(Role.customer, organization=org)
    filer = make_user(Role.customer, organization=org)

    page = sign_in(helped)
    page.goto("/portal/tickets/new")
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#subject").press_sequentially("How do I export the GRI report to Word?", delay=10)
    suggestion = page.locator("#kb-suggestions").get_by_role("button", name=ARTICLE)
    expect(suggestion).to_be_visible()
    expect(page.locator("#kb-suggestions")).not_to_contain_text("GRI report internals")
    suggestion.click()
    expect(page.get_by_role("heading", name=ARTICLE)).to_be_visible()
    expect(page.locator("#suggestion-open")).to_contain_text("The export keeps your tables")
    page.get_by_role("button", name="This solved my problem").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.locator("#flashes")).to_contain_text("no ticket was filed")
    assert _count(Ticket) == 0 and _count(Deflection) == 1
    assert page.js_errors == []

    page = sign_in(filer)
    page.goto("/portal/tickets/new")
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#subject").press_sequentially("GRI report export to Word loses my charts", delay=10)
    expect(page.locator("#kb-suggestions").get_by_role("button", name=ARTICLE)).to_be_visible()
    page.locator("#kb-suggestions").get_by_role("button", name=ARTICLE).click()
    page.get_by_role("button", name="Still need help").click()
    expect(page.locator("#kb-suggestions").get_by_role("button", name=ARTICLE)).to_be_visible()
    expect(page.locator("#subject")).to_have_value("GRI report export to Word loses my charts")  # nothing lost
    page.fill("#description", "The charts are missing from the Word file since Monday.")
    page.select_option("#category", "data")
    page.get_by_role("button", name="File ticket").click()
    expect(page).to_have_url(re.compile(r"/portal/tickets/ESG-\d+"))
    assert _count(Ticket) == 1 and _count(Deflection) == 1
    assert _count(TicketSuggestion) >= 1
    assert page.js_errors == []
