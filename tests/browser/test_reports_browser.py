"""The report pages in a real browser: a manager opens the monthly report and its charts are drawn from their tables
(vendored Chart.js, no JavaScript error, no Content-Security-Policy violation), also when the report is reached by
boosted navigation and the period picker; the live dashboard's board refreshes in place (the page, and a marker
left on its window, survive) and its status line says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from tests.browser.conftest import ROOT, ensure_vendored
from tests.reports_pages.conftest import desk, march, people  # noqa: F401  (a hand-made March 2026)

CHART = ROOT / "portal" / "static" / "vendor" / "chartjs" / "chart.umd.min.js"
RECORD_CSP = """document.addEventListener('securitypolicyviolation', e => {
  (window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});"""
DRAWN = """(id) => {
  const canvas = document.getElementById(id);
  if (!canvas || canvas.getAttribute('data-drawn') !== 'true' || !window.Chart) return null;
  const chart = window.Chart.getChart(canvas);
  const blank = document.createElement('canvas');
  blank.width = canvas.width; blank.height = canvas.height;
  return {width: canvas.width, height: canvas.height, painted: canvas.toDataURL() !== blank.toDataURL(),
          labels: chart.data.labels.length, series: chart.data.datasets.map(d => d.label),
          role: canvas.getAttribute('role'), label: canvas.getAttribute('aria-label')};
}"""


@pytest.fixture(scope="session")
def vendored_chartjs():
    return ensure_vendored(CHART, "vendor-chartjs.sh")


def _watch(page: Page) -> Page:
    page.context.add_init_script(RECORD_CSP)
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    return page


def _clean(page: Page) -> None:
    violations = page.evaluate("() => window.__cspViolations || []")
    assert violations == [] and page.console_errors == [] and page.js_errors == [], (
        violations,
        page.console_errors,
        page.js_errors,
    )


def test_the_monthly_report_draws_its_charts_from_its_tables(march, people, sign_in, vendored_chartjs):  # noqa: F811
    page = _watch(sign_in(people["manager"]))
    response = page.goto("/reports/?period=month&date=2026-03-15&tz=UTC")
    assert response.ok and "script-src 'self'" in response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    page.wait_for_function(f"() => ({DRAWN})('chart-sla-days') !== null")
    drawn = page.evaluate(DRAWN, "chart-sla-days")
    assert drawn["painted"] and drawn["width"] > 0 and drawn["height"] > 0
    assert drawn["labels"] == 31 and drawn["series"] == ["First response", "Resolution", "Both"]
    assert drawn["role"] == "img" and "the numbers are in the table" in drawn["label"]
    expect(page.locator("#sla-days-table tbody tr")).to_have_count(31)  # the source stays for screen readers
    assert page.evaluate("() => document.querySelectorAll('script[src*=\"chart.umd\"]').length") == 1
    _clean(page)


def test_charts_are_drawn_after_boosted_navigation_and_the_period_picker(march, people, sign_in, vendored_chartjs):  # noqa: F811
    page = _watch(sign_in(people["manager"]))
    page.goto("/reports/live")
    page.evaluate("() => { window.__marker = 'kept'; }")
    page.get_by_role("navigation", name="Reports").get_by_role("link", name="Reports").click()
    expect(page).to_have_url(re.compile(r"/reports/$"))
    page.select_option("#report-kind", "week")
    page.fill("#report-date", "2026-03-04")
    page.select_option("#report-tz", "UTC")
    page.get_by_role("button", name="Show report").click()
    expect(page.locator("h1")).to_have_text("Weekly report")
    page.wait_for_function(f"() => ({DRAWN})('chart-trend') !== null")
    drawn = page.evaluate(DRAWN, "chart-trend")
    assert drawn["painted"] and drawn["labels"] == 7 and drawn["series"] == ["Created", "Solved"]
    assert page.evaluate("() => window.__marker") == "kept"  # boosted: the same window all along
    _clean(page)


def test_the_live_board_refreshes_in_place(people, sign_in, make_ticket, vendored_chartjs):  # noqa: F811
    page = _watch(sign_in(people["manager"]))
    page.goto("/reports/live")
    page.wait_for_function("() => window.htmx !== undefined")
    expect(page.locator("#live-open")).to_have_text("0")
    board = page.locator("#live-board")
    assert board.get_attribute("hx-trigger") == "every 30s" and board.get_attribute("hx-get") == "/reports/live/board"
    assert page.locator("#live-status").get_attribute("aria-live") == "polite"
    page.evaluate("() => { window.__marker = 42; }")
    before = page.locator("#live-figures").get_attribute("data-updated")

    make_ticket(people["customer"], subject="Dashboard refresh", priority="high")
    make_ticket(people["customer"], subject="Another one", priority="low")
    db.session.commit()
    with page.expect_response(lambda r: r.url.endswith("/reports/live/board") and r.status == 200):
        page.evaluate("() => htmx.ajax('GET', '/reports/live/board', {target: '#live-board', swap: 'innerHTML'})")
    expect(page.locator("#live-open")).to_have_text("2")
    expect(page.locator("#live-status")).to_contain_text("2 open")
    assert page.locator("#live-figures").get_attribute("data-updated") != before
    assert page.evaluate("() => window.__marker") == 42 and page.url.endswith("/reports/live")

    with page.expect_response(lambda r: r.url.endswith("/reports/live/board")):
        page.get_by_role("button", name="Refresh now").click()  # the same refresh from the keyboard or a click
    expect(page.locator("#live-status")).to_contain_text("2 open")
    assert page.evaluate("() => window.__marker") == 42
    _clean(page)
