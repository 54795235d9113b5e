"""Accessibility in a real browser: axe-core (vendored from its npm package by scripts/vendor-axe.sh) finds no serious
or critical WCAG 2.2 A/AA violation on the portal's pages, each visited as the role that uses it; and the agent's
ticket page works from the keyboard alone (skip link first, status changed and saved without a mouse)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import CsatSurvey, Role, utcnow
from portal.services import csat
from portal.services import tickets as ticket_service
from portal.services.kb.articles import ArticleInput, create_article, publish_article
from portal.services.kb.faqs import save_faq
from tests.browser.conftest import ROOT, ensure_vendored
from tests.search.conftest import run_index_jobs, search_index  # noqa: F401  (fresh indexes, index jobs)

AXE = ROOT / "tests" / "browser" / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = {"serious", "critical"}
ARTICLE = "Importing emissions data from a CSV file"


@pytest.fixture(scope="session")
def vendored_axe() -> Path:
    return ensure_vendored(AXE, "vendor-axe.sh")


@dataclass
class Seed:
    customer: object
    agent: object
    admin: object
    reference: str
    article_slug: str
    category_slug: str


@pytest.fixture
def seed(make_org, make_user, make_ticket, run_index_jobs) -> Seed:  # noqa: F811
    org = make_org(name="Acme Reporting")
    customer = make_user(Role.customer, organization=org, name="Carla Customer")
    agent = make_user(Role.agent, name="Alex Agent")
    admin = make_user(Role.admin, name="Ada Admin")
    ticket = make_ticket(
        customer,
        subject="CSV import stops at row 3",
        description="Every upload of our 2024 emissions file stops at row 3.",
    )
    ticket_service.reply_to_ticket(agent, ticket, "Could you send us the file? We will check the importer.")
    ticket_service.reply_to_ticket(agent, ticket, "Importer logs show a date format issue.", internal=True)
    # More tickets so the lists show every status and priority badge (each has its own colours to check).
    for status, priority in [("pending", "critical"), ("on_hold", "low"), ("solved", "high"), ("new", "medium")]:
        other = make_ticket(customer, subject=f"Import question ({status})", priority=priority, actor=agent)
        if status != "new":
            ticket_service.update_ticket(agent, other, expected_version=other.version, status=status, assignee=agent.id)
    db.session.commit()
    article = create_article(
        admin,
        ArticleInput(
            title=ARTICLE,
            category="data-entry",
            summary="How to import a CSV file of emissions data.",
            tags="import, csv",
            body_markdown="## Before you start\n\nSave the sheet as **CSV (UTF-8)**.\n\n"
            "## Import\n\n1. Open *Data → Import*.\n2. Choose the file.\n",
        ),
    )
    publish_article(admin, article)
    create_article(
        agent,
        ArticleInput(title="Import troubleshooting (draft)", category="data-entry", body_markdown="Work in progress."),
    )
    save_faq(
        admin,
        None,
        category="data-entry",
        question="Which date format does the import take?",
        answer_markdown="Use ISO dates such as `2024-03-31`.",
    )
    db.session.commit()
    run_index_jobs()
    return Seed(customer, agent, admin, ticket.reference, article.slug, "data-entry")


# WCAG 2.2 dropped 4.1.1 Parsing, so axe no longer fails duplicate ids; but an id that a <label for> or an aria-*
# reference points at must be unique, or the second control silently loses its name/description (axe only lists it as
# "needs review").
DUPLICATE_REFERENCED_IDS = """() => {
    const refs = new Set();
    document.querySelectorAll('label[for]').forEach(l => refs.add(l.htmlFor));
    document.querySelectorAll('[aria-labelledby],[aria-describedby],[aria-controls],[aria-errormessage]').forEach(el =>
        ['aria-labelledby', 'aria-describedby', 'aria-controls', 'aria-errormessage'].forEach(a =>
            (el.getAttribute(a) || '').split(/\\s+/).filter(Boolean).forEach(id => refs.add(id))));
    return [...refs].filter(id => document.querySelectorAll('[id="' + CSS.escape(id) + '"]').length > 1)
        .map(id => '#' + id + ' (' + document.querySelectorAll('[id="' + CSS.escape(id) + '"]').length + ' elements)');
}"""


def _axe_violations(page: Page) -> list[str]:
    """Run axe on the page as it is now; one line per serious/critical violation, with the offending targets."""
    page.wait_for_load_state("load")
    assert page.evaluate("() => typeof window.axe !== 'undefined'"), f"axe was not injected into {page.url}"
    results = page.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})
        .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))})))""",
        WCAG_TAGS,
    )
    lines = [
        f"{page.url} [serious] duplicate referenced id: {target}" for target in page.evaluate(DUPLICATE_REFERENCED_IDS)
    ]
    for violation in results:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(
                f"{page.url} [{violation['impact']}] {violation['id']}: {violation['help']} "
                f"-> {node['target']} ({summary[:300]})"
            )
    return lines


def _with_axe(page: Page) -> Page:
    """Inject axe into every document this page's context loads from now on. The portal's Content-Security-Policy
    (script-src 'self') rightly blocks the inline <script> that page.add_script_tag would write, and bypassing the CSP
    would also let the blocked inline styles apply; an init script runs outside the page's CSP and changes nothing."""
    if not getattr(page.context, "axe_injected", False):
        page.context.add_init_script(path=str(AXE))
        page.context.axe_injected = True
    return page


def _check_pages(page: Page, paths: list[str]) -> list[str]:
    _with_axe(page)
    found = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: HTTP {response.status if response else '?'}"
        found += _axe_violations(page)
    return found


def _assert_clean(found: list[str]) -> None:
    assert not found, f"{len(found)} serious/critical accessibility violation(s):\n" + "\n".join(found)


def _wait_for_htmx(page: Page) -> None:
    page.wait_for_function("() => window.htmx !== undefined")


def test_public_pages_have_no_serious_violations(seed, new_context, vendored_axe):
    page = _with_axe(new_context().new_page())
    found = _check_pages(
        page,
        [
            "/login",
            "/signup",
            "/kb/",
            f"/kb/c/{seed.category_slug}",
            f"/kb/a/{seed.article_slug}",
            "/kb/faq",
            "/kb/search?q=import",
        ],
    )
    # The same forms showing their validation messages (error colours, aria-invalid, described-by).
    page.goto("/login")
    page.fill("input[name=email]", seed.customer.email)
    page.fill("input[name=password]", "wrong-password-here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flash-error")).to_be_visible()
    found += _axe_violations(page)
    page.goto("/signup")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".field-error").first).to_be_visible()
    found += _axe_violations(page)
    _assert_clean(found)


def test_customer_pages_have_no_serious_violations(seed, sign_in, vendored_axe):
    page = sign_in(seed.customer)
    found = _check_pages(page, ["/portal/", "/portal/tickets", f"/portal/tickets/{seed.reference}", "/profile"])
    survey = db.session.scalar(db.select(CsatSurvey))  # the solved ticket's open satisfaction survey
    found += _check_pages(
        page, [f"/portal/tickets/{survey.ticket.reference}", f"/csat/{csat.token_for(survey)}?rating=4"]
    )

    _with_axe(page).goto("/portal/tickets/new")
    _wait_for_htmx(page)
    found += _axe_violations(page)
    page.locator("#subject").press_sequentially("How do I import a CSV file?", delay=10)
    expect(page.locator("#kb-suggestions").get_by_role("button", name=ARTICLE)).to_be_visible()
    found += _axe_violations(page)
    page.fill("#subject", "")
    page.get_by_role("button", name="File ticket").click()
    expect(page.locator(".field-error").first).to_be_visible()
    found += _axe_violations(page)

    page.goto("/profile")  # with a token listed and the one-time token notice shown
    page.fill("#token-name", "Support button")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    found += _axe_violations(page)
    _assert_clean(found)


def test_staff_pages_have_no_serious_violations(seed, sign_in, vendored_axe):
    desk = sign_in(seed.agent)
    found = _check_pages(desk, ["/agent/queue", "/agent/search?q=import", "/ops/roster", "/reports/"])

    _with_axe(desk).goto(f"/agent/tickets/{seed.reference}")
    _wait_for_htmx(desk)
    found += _axe_violations(desk)
    version = desk.locator("#ticket-header").get_attribute("data-version")
    desk.select_option("#field-priority", "high")  # the properties panel and header are swapped in place
    expect(desk.locator("#ticket-header")).not_to_have_attribute("data-version", version)
    expect(desk.locator("#ticket-header [data-field=priority]")).to_have_text("High")
    found += _axe_violations(desk)

    admin = sign_in(seed.admin)
    found += _check_pages(admin, ["/admin/", "/admin/users", "/admin/kb/", "/admin/sla", "/profile"])
    survey = db.session.scalar(db.select(CsatSurvey))
    csat.rate(survey, 1, "Too slow.", utcnow(), "email")  # a row to follow up, a rating in the timeline
    db.session.commit()
    found += _check_pages(admin, ["/reports/csat/follow-up", f"/agent/tickets/{survey.ticket.reference}"])
    found += _check_pages(
        admin,
        [
            "/reports/?period=day",
            "/reports/?period=week",
            "/reports/?period=month",
            "/reports/live",
            "/reports/success",
        ],
    )
    _assert_clean(found)
    assert desk.js_errors == [] and admin.js_errors == [], (desk.js_errors, admin.js_errors)


def test_agent_ticket_page_works_from_the_keyboard(seed, sign_in):
    desk = sign_in(seed.agent)
    desk.goto(f"/agent/tickets/{seed.reference}")
    _wait_for_htmx(desk)
    status = desk.locator("#ticket-header [data-field=status]")
    before = status.inner_text()

    desk.keyboard.press("Tab")
    assert desk.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
    desk.keyboard.press("Enter")
    expect(desk.locator("main#main")).to_be_focused()

    # Tab on from main until the status select has focus: no mouse anywhere.
    for _ in range(80):
        desk.keyboard.press("Tab")
        if desk.evaluate("() => document.activeElement.id") == "field-status":
            break
    else:
        pytest.fail("Tab never reached the status select")
    version = desk.locator("#ticket-header").get_attribute("data-version")
    desk.keyboard.press("ArrowDown")  # a closed select takes the next option and fires change
    expect(desk.locator("#ticket-header")).not_to_have_attribute("data-version", version)
    expect(status).not_to_have_text(before)
    chosen = desk.locator("#field-status").input_value()
    # The panel was swapped, but the keyboard user is still on the status select, not thrown back to the top.
    expect(desk.locator("#field-status")).to_be_focused()
    expect(status).to_have_text(re.compile(r"\S"))

    desk.reload()  # saved on the server, not just shown
    expect(desk.locator("#field-status")).to_have_value(chosen)
    expect(desk.locator("#ticket-header [data-field=status]")).not_to_have_text(before)
    assert desk.js_errors == []
