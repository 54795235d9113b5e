"""Acceptance in a real browser: the ESG platform (another origin, its own port) embeds the support widget with
one tag. A signed user sees KB suggestions as they type, files a ticket with a file, and finds it in the portal;
unsigned and badly signed visitors are refused by a verified-only site; an origin the site does not list cannot
frame the widget at all. The admin page passes axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Attachment, Role, Ticket
from tests.browser.test_accessibility import _axe_violations, _with_axe, vendored_axe  # noqa: F401
from tests.search.conftest import kb_category, make_article, run_index_jobs, search_index  # noqa: F401
from tests.widget.conftest import make_site, sign  # noqa: F401
from tests.widget.host_server import HostServer, embed_page

ARTICLE = "Exporting a GRI report to Word"
FRAME = "iframe[title='ESG support']"
FITS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def host():
    with HostServer() as server:
        yield server


def _open_widget(page: Page, url: str):
    page.goto(url)
    launcher = page.get_by_role("button", name="Help")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()  # keyboard: the launcher is a real button
    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    return page.frame_locator(FRAME)


def _count(model) -> int:
    db.session.rollback()  # read what the server committed
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_a_signed_user_gets_suggestions_files_a_ticket_and_finds_it_in_the_portal(
    live_server,
    host,
    new_context,
    sign_in,
    make_org,
    make_user,
    make_site,  # noqa: F811
    make_article,  # noqa: F811
    run_index_jobs,  # noqa: F811
):
    make_article(ARTICLE, "Open **Reports → GRI**, choose *Export* and pick Word.", category="reporting")
    make_article("GRI report internals", "Internal GRI notes for agents.", internal=True, category="reporting")
    run_index_jobs()
    org = make_org(domains="greenco.example")
    customer = make_user(Role.customer, organization=org, email="dana@greenco.example", name="Dana Green")
    site = make_site(host.origin)
    token = sign(site, customer.email, name=customer.name)
    host.page("/", embed_page(live_server, site.public_key, jwt=token))

    page = new_context().new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    frame = _open_widget(page, host.url("/"))
    expect(frame.locator(".widget-who")).to_contain_text("Dana Green")
    frame.get_by_label("Subject").press_sequentially("How do I export the GRI report to Word?", delay=10)
    suggestion = frame.locator("#kb-suggestions").get_by_role("button", name=ARTICLE)
    expect(suggestion).to_be_visible()
    expect(frame.locator("#kb-suggestions")).not_to_contain_text("GRI report internals")
    suggestion.click()
    expect(frame.get_by_role("heading", name=ARTICLE)).to_be_visible()
    frame.get_by_role("button", name="Still need help").click()
    expect(suggestion).to_be_visible()

    frame.get_by_label("Describe the problem").fill("The charts are missing from the Word file since Monday.")
    frame.get_by_label("Category").select_option("data")
    frame.locator("input[type=file]").set_input_files(
        {"name": "charts.txt", "mimeType": "text/plain", "buffer": b"chart 1 missing\nchart 2 missing\n"}
    )
    frame.get_by_role("button", name="Send request").click()
    filed = frame.locator("#widget-ticket [role=status]")
    expect(filed).to_contain_text(re.compile(r"Ticket ESG-\d+ filed"))
    expect(frame.locator("#widget-ticket")).to_contain_text("charts.txt")
    reference = re.search(r"ESG-\d+", filed.inner_text()).group(0)

    frame.get_by_role("button", name="My tickets").click()
    expect(frame.get_by_role("button", name=re.compile(reference))).to_be_visible()
    # The Close button in the frame closes it (a message to the host page, checked for origin both ways).
    frame.get_by_role("button", name="Close help").click()
    expect(page.get_by_role("button", name="Help")).to_have_attribute("aria-expanded", "false")
    # The signed token never went into a URL that reaches a server or a log.
    assert sent and not [url for url in sent if token in url.split("#")[0]]
    assert page.js_errors == []

    assert _count(Ticket) == 1 and _count(Attachment) == 1
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.requester_id == customer.id and ticket.reference == reference
    portal = sign_in(customer)
    portal.goto("/portal/tickets")
    expect(portal.locator("#ticket-rows")).to_contain_text(reference)
    portal.goto(f"/portal/tickets/{reference}")
    expect(portal.locator("#timeline")).to_contain_text("charts.txt")


def test_a_verified_only_site_refuses_unsigned_and_badly_signed_visitors(
    live_server,
    host,
    new_context,
    make_site,  # noqa: F811
):
    site = make_site(host.origin, verified_only=True)
    host.page("/anonymous", embed_page(live_server, site.public_key))
    host.page("/forged", embed_page(live_server, site.public_key, jwt=sign(site, "x@y.example", secret="wrong" * 10)))
    host.page("/expired", embed_page(live_server, site.public_key, jwt=sign(site, "x@y.example", iat=1, exp=2)))
    page = new_context().new_page()
    for path, text in (
        ("/anonymous", "for signed-in users of the platform"),
        ("/forged", "could not be verified"),
        ("/expired", "has expired"),
    ):
        frame = _open_widget(page, host.url(path))
        expect(frame.get_by_role("alert")).to_contain_text(text)
        expect(frame.locator("body")).to_have_attribute("data-widget-state", "refused")
        expect(frame.locator("#widget-ticket-form")).to_have_count(0)
    assert _count(Ticket) == 0
    assert page.js_errors == []


def test_an_origin_the_site_does_not_list_cannot_frame_the_widget(
    live_server,
    host,
    new_context,
    make_site,  # noqa: F811
):
    site = make_site("https://platform.example.test\nhttp://localhost:1")  # not the host page's origin
    host.page("/", embed_page(live_server, site.public_key, jwt=sign(site, "x@y.example")))
    page = new_context().new_page()
    page.goto(host.url("/"))
    with page.expect_response(re.compile(r"/widget/frame\?key=")) as answered:
        page.get_by_role("button", name="Help").click()
    policy = answered.value.headers["content-security-policy"]
    assert policy.endswith("frame-ancestors https://platform.example.test http://localhost:1")
    assert host.origin not in policy
    expect(page.locator(FRAME)).to_have_attribute("data-loaded", "true")  # the frame finished, as an error page
    blocked = next(f for f in page.frames if f != page.main_frame)
    assert "/widget/frame" not in blocked.url  # the browser showed its own error page instead
    expect(page.frame_locator(FRAME).locator("#widget-main")).to_have_count(0)
    expect(page.frame_locator(FRAME).get_by_role("heading", name="Help")).to_have_count(0)
    # Nothing ran in our origin: no widget session was asked for.
    assert _count(Ticket) == 0


def test_the_admin_page_and_the_frame_pass_axe(
    live_server,
    host,
    new_context,
    sign_in,
    make_user,
    make_site,  # noqa: F811
    vendored_axe,  # noqa: F811
):
    site = make_site(host.origin)
    site_with_keys = make_site("https://other.example.test", name="Second platform", mode="hmac")
    assert site_with_keys.secrets
    admin = make_user(Role.admin)
    page = _with_axe(sign_in(admin))
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/admin/widget")
    expect(page.get_by_role("heading", name="Support widget")).to_be_visible()
    found = _axe_violations(page)
    page.get_by_role("button", name=f"New key for {site.name}").click()
    expect(page.locator("#revealed-value")).to_be_visible()
    found += _axe_violations(page)
    assert page.evaluate(FITS), "the admin page scrolls sideways on a phone"

    host.page("/", embed_page(live_server, site.public_key, jwt=sign(site, "reader@x.example")))
    visitor = _with_axe(new_context().new_page())
    frame = _open_widget(visitor, host.url("/"))
    expect(frame.get_by_label("Subject")).to_be_visible()
    inner = next(f for f in visitor.frames if "/widget/frame" in f.url)
    results = inner.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa']}})
        .then(r => r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"""
    )
    found += [f"frame: {line}" for line in results]
    assert inner.evaluate(FITS), "the frame scrolls sideways"
    assert not found, "\n".join(found)
