"""Site-wide page rules: the Content-Security-Policy has no 'unsafe-inline' and no template relies on inline styles;
/favicon.ico answers with an icon; staff navigation links the roster; the new-ticket page shows the support phone
numbers (tel: links, from the one list) and its KB suggestions above the button; the pager keeps the other query
arguments; filter forms keep the chosen values."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from portal.blueprints.main.contact import EMERGENCY_HOTLINE, PHONE_SUPPORT, SUPPORT_PHONES
from portal.models import Role
from portal.web import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "portal" / "templates"
CSS = ROOT / "portal" / "static" / "css" / "app.css"


def test_content_security_policy_allows_no_inline_styles_or_scripts(client):
    header = client.get("/login").headers["Content-Security-Policy"]
    assert header == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    directives = dict(part.strip().split(" ", 1) for part in header.split(";"))
    assert directives["style-src"] == "'self'" and directives["script-src"] == "'self'"


def test_page_templates_have_no_inline_styles():
    """E-mail bodies keep their inline styles (mail clients drop style sheets); they are never served as pages."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if path.relative_to(TEMPLATES).parts[0] == "email":
            continue
        text = path.read_text()
        if re.search(r"\sstyle\s*=", text) or re.search(r"<style[\s>]", text, re.I):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_htmx_is_told_not_to_inject_its_indicator_styles(client):
    page = client.get("/login").text
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta, "no htmx-config meta tag"
    assert json.loads(unescape(meta.group(1)))["includeIndicatorStyles"] is False
    css = CSS.read_text()
    assert ".htmx-indicator {" in css and ".htmx-request .htmx-indicator" in css


def test_favicon_answers_with_an_icon(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/vnd.microsoft.icon"
        assert response.data[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
        assert "max-age=86400" in response.headers["Cache-Control"]
    again = client.get("/favicon.ico", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert 'rel="icon" href="/favicon.ico"' in client.get("/login").text


def test_staff_navigation_links_the_roster(login_as, make_user, client):
    login_as(make_user(Role.agent))
    page = client.get("/agent/queue").text
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert 'href="/ops/roster"' in nav
    roster = client.get("/ops/roster").text
    assert re.search(r'href="/ops/roster" aria-current="page"', roster)


def test_customer_navigation_has_no_roster(login_as, make_user, make_org, client):
    login_as(make_user(Role.customer, organization=make_org()))
    assert 'href="/ops/roster"' not in client.get("/portal/").text


def test_support_phone_numbers_have_tel_links():
    assert [n.display for n in PHONE_SUPPORT.numbers] == ["+1-800-ESG-HELP", "+44-20-ESG-HELP", "+61-2-ESG-HELP"]
    assert PHONE_SUPPORT.hours == "Business hours: 8am–6pm local time"
    assert [n.display for n in EMERGENCY_HOTLINE.numbers] == ["+1-800-ESG-CRIT"]
    assert EMERGENCY_HOTLINE.hours == "24/7/365" and "critical system outages" in EMERGENCY_HOTLINE.purpose
    us = PHONE_SUPPORT.numbers[0]
    assert us.digits == "+1-800-374-4357" and us.tel == "tel:+18003744357"
    assert EMERGENCY_HOTLINE.numbers[0].tel == "tel:+18003742748"


def test_new_ticket_page_shows_the_phone_lines_and_suggestions_above_the_button(login_as, make_user, make_org, client):
    login_as(make_user(Role.customer, organization=make_org()))
    page = client.get("/portal/tickets/new").text
    for line in SUPPORT_PHONES:
        assert line.name in page and line.hours in page
        for number in line.numbers:
            assert f'<a href="{number.tel}">{number.display}</a>' in page
    suggestions, button = page.index('id="kb-suggestions"'), page.index(">File ticket</button>")
    assert page.index('id="new-ticket-form"') < suggestions < button
    assert '<button type="submit" form="new-ticket-form">File ticket</button>' in page


@pytest.fixture
def many_users(make_user, app, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_PAGE_SIZE", 2)
    for n in range(5):
        make_user(Role.agent, name=f"Agent {n}")


def _links(page: str, rel: str) -> list[str]:
    return [unescape(href) for href in re.findall(rf'<a href="([^"]+)" rel="{rel}">', page)]


def test_pager_keeps_the_other_query_arguments(login_as, make_user, client, many_users):
    login_as(make_user(Role.admin))
    page = client.get("/admin/users?role=agent&q=Agent&page=2").text
    assert _links(page, "prev") == ["/admin/users?role=agent&q=Agent&page=1"]
    assert _links(page, "next") == ["/admin/users?role=agent&q=Agent&page=3"]
    assert "Page 2" in page
    empty_dropped = client.get("/admin/users?role=agent&q=&page=1").text
    assert _links(empty_dropped, "next") == ["/admin/users?role=agent&page=2"]


def test_pager_is_left_out_when_there_is_one_page(login_as, make_user, client):
    login_as(make_user(Role.admin))
    assert 'class="pager"' not in client.get("/admin/users").text


def test_filter_forms_keep_the_chosen_values(login_as, make_user, client):
    agent = make_user(Role.agent, name="Alex Agent")
    login_as(agent)
    page = client.get(f"/agent/queue?status=open&priority=high&assignee={agent.id}&sort=oldest&q=import").text
    assert '<option value="open" selected>' in page
    assert '<option value="high" selected>' in page
    assert f'<option value="{agent.id}" selected>Alex Agent</option>' in page
    assert '<option value="oldest" selected>' in page
    assert re.search(r'<input type="search" name="q" id="q" value="import"', page)
    assert 'role="search" id="queue-filters"' in page and 'hx-target="#queue-results"' in page
    unassigned = client.get("/agent/queue?assignee=none").text
    assert '<option value="none" selected>Unassigned</option>' in unassigned
