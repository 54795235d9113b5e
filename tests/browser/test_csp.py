"""The Content-Security-Policy allows styles from the portal's own style sheets only (no 'unsafe-inline'): in a real
browser, the main pages and their htmx interactions report no CSP violation, and no inline <style> element or style
attribute ends up in the page (htmx is configured not to inject its indicator styles)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.test_responsive import seed  # noqa: F401  (the realistic portal data)
from tests.search.conftest import run_index_jobs, search_index  # noqa: F401  (fresh indexes, index jobs)

RECORD = """document.addEventListener('securitypolicyviolation', e => {
  (window.__cspViolations = window.__cspViolations || [])
    .push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || ''));
});"""
STATE = """() => ({violations: window.__cspViolations || [],
  styles: [...document.querySelectorAll('style')].map(s => s.textContent.slice(0, 80)),
  styled: [...document.querySelectorAll('[style]')].map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''))})"""


def _watch(page: Page) -> Page:
    page.context.add_init_script(RECORD)
    page.csp_console = []
    page.on("console", lambda m: page.csp_console.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def _check(page: Page, where: str) -> list[str]:
    page.wait_for_load_state("load")
    state = page.evaluate(STATE)
    found = [f"{where}: violation {v}" for v in state["violations"]]
    found += [f"{where}: inline <style> {s!r}" for s in state["styles"]]
    found += [f"{where}: style attribute on {e}" for e in state["styled"]]
    found += [f"{where}: console: {m}" for m in page.csp_console]
    page.csp_console.clear()
    return found


def _pages(page: Page, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, path
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        page.wait_for_function("() => window.htmx !== undefined")
        found += _check(page, path)
    return found


def test_public_and_customer_pages_report_no_csp_violation(seed, new_context, sign_in):  # noqa: F811
    visitor = _watch(new_context().new_page())
    slug = seed.ids["article_slug"]
    found = _pages(visitor, ["/", "/login", "/signup", "/kb/", f"/kb/a/{slug}", "/kb/faq", "/kb/search?q=import"])
    visitor.goto(f"/kb/a/{slug}")  # the helpfulness vote is swapped in by htmx
    visitor.wait_for_function("() => window.htmx !== undefined")
    visitor.locator("#kb-feedback").get_by_role("button", name="Yes").click()
    expect(visitor.locator("#kb-feedback")).to_contain_text("glad it helped")
    found += _check(visitor, "help-centre vote")

    customer = _watch(sign_in(seed.users["customer"]))
    reference = seed.ids["reference"]
    found += _pages(customer, ["/portal/", "/portal/tickets", f"/portal/tickets/{reference}", "/profile"])
    customer.goto("/portal/tickets/new")
    customer.wait_for_function("() => window.htmx !== undefined")
    customer.locator("#subject").press_sequentially("How do I import a CSV file?", delay=10)
    suggestion = customer.locator("#kb-suggestions .suggestion button").first
    expect(suggestion).to_be_visible()
    found += _check(customer, "suggestions while typing")
    suggestion.click()
    expect(customer.locator("#suggestion-open")).to_be_visible()
    found += _check(customer, "an opened suggestion")
    customer.goto("/portal/tickets")
    customer.select_option("#status", "open_any")  # the rows are swapped in by htmx
    expect(customer).to_have_url(re.compile(r"status=open_any"))
    found += _check(customer, "customer ticket filter")
    assert not found, "\n".join(found)
    assert visitor.js_errors == [] and customer.js_errors == []


def test_staff_pages_report_no_csp_violation(seed, sign_in):  # noqa: F811
    agent = _watch(sign_in(seed.users["agent"]))
    reference = seed.ids["reference"]
    found = _pages(agent, ["/agent/queue", "/agent/search?q=import", f"/agent/tickets/{reference}", "/ops/roster"])
    agent.goto(f"/agent/tickets/{reference}")
    agent.wait_for_function("() => window.htmx !== undefined")
    version = agent.locator("#ticket-header").get_attribute("data-version")
    agent.select_option("#field-priority", "high")  # the properties panel and header are swapped in place
    expect(agent.locator("#ticket-header")).not_to_have_attribute("data-version", version)
    found += _check(agent, "agent property change")
    agent.goto("/agent/queue")
    agent.wait_for_function("() => window.htmx !== undefined")
    agent.select_option("#f-priority", "critical")  # the queue rows are swapped in by htmx
    expect(agent).to_have_url(re.compile(r"priority=critical"))
    found += _check(agent, "queue filter")

    admin = _watch(sign_in(seed.users["admin"]))
    found += _pages(
        admin,
        [
            "/admin/",
            "/admin/users",
            "/admin/organizations",
            "/admin/sla",
            "/admin/kb/",
            f"/admin/kb/{seed.ids['article_id']}/edit",
            "/admin/kb/reports",
            "/admin/outbox",
            "/ops/roster/manage",
        ],
    )
    assert not found, "\n".join(found)
    assert agent.js_errors == [] and admin.js_errors == []
