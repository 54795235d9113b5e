"""The embed script, the frame and its partials over HTTP: headers (frame-ancestors of the site's exact origins,
no X-Frame-Options), the widget session header as the only authentication, tickets filed with files and read back
under the portal's access rules, KB suggestions for the widget's viewer."""

from __future__ import annotations

import io

import pytest

from portal.extensions import db
from portal.models import Attachment, Channel, Role, Ticket
from portal.models.kb import SearchLog, SearchSource
from portal.services.accounts import find_user_by_email
from portal.services.kb.search_log_buffer import drain
from portal.services.widget import sessions
from tests.search.conftest import kb_category, make_article, run_index_jobs, search_index  # noqa: F401
from tests.widget.conftest import sign

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def widget_user(make_site, start_session):
    """A widget session for an address: returns (headers, user email)."""

    def open_session(site, email: str):
        response = start_session(site, jwt=sign(site, email))
        assert response.status_code == 200, response.text
        return {sessions.HEADER: response.json["token"], "HX-Request": "true"}

    return open_session


def test_the_script_is_public_cacheable_javascript(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "public" in response.headers["Cache-Control"] and "max-age=" in response.headers["Cache-Control"]
    assert "esg-widget:close" in response.text and "/widget/frame?key=" in response.text


def test_the_frame_may_be_framed_by_the_sites_exact_origins_only(client, make_site):
    site = make_site("https://platform.example.test\nhttp://localhost:5001")
    response = client.get(f"/widget/frame?key={site.public_key}")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors https://platform.example.test http://localhost:5001")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert 'data-widget-key="' + site.public_key in response.text
    # Unknown or inactive keys: nobody may frame the answer.
    unknown = client.get("/widget/frame?key=wpk_nope")
    assert unknown.status_code == 404 and unknown.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    site.is_active = False
    db.session.commit()
    assert client.get(f"/widget/frame?key={site.public_key}").status_code == 404
    # Every other page of the portal still refuses to be framed.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/widget/panel"),
        ("GET", "/widget/tickets"),
        ("GET", "/widget/tickets/ESG-000001"),
        ("POST", "/widget/tickets"),
        ("POST", "/widget/tickets/ESG-000001/replies"),
        ("GET", "/widget/suggestions?subject=import"),
    ],
)
def test_partials_refuse_without_a_session(client, make_site, make_user, make_ticket, method, path):
    site = make_site(verified_only=True)
    make_ticket(make_user(Role.customer))
    for headers in ({}, {sessions.HEADER: "forged"}, {"X-Widget-Key": site.public_key}):
        response = client.open(path, method=method, headers=headers, data={"subject": "x", "body": "x"})
        assert response.status_code == 401, (path, headers, response.status_code)
        assert "widget session" in response.text
    assert db.session.scalar(db.select(db.func.count()).select_from(Ticket)) == 1


def test_a_session_of_a_site_turned_off_ends(client, make_site, widget_user):
    site = make_site()
    headers = widget_user(site, "a@x.example")
    assert client.get("/widget/tickets", headers=headers).status_code == 200
    site.is_active = False
    db.session.commit()
    assert client.get("/widget/tickets", headers=headers).status_code == 401


def test_a_signed_user_files_a_ticket_with_a_file_and_reads_and_replies(client, make_site, make_org, widget_user):
    site = make_site()
    make_org(domains="greenco.example")
    headers = widget_user(site, "filer@greenco.example")
    panel = client.get("/widget/panel", headers=headers)
    assert panel.status_code == 200 and "How can we help?" in panel.text
    assert panel.headers["Content-Security-Policy"].endswith("frame-ancestors https://platform.example.test")
    response = client.post(
        "/widget/tickets",
        headers=headers,
        data={
            "subject": "Scope 2 import fails",
            "description": "Row 3 is refused.",
            "category": "data",
            "priority": "medium",
            "attachments": (io.BytesIO(PNG), "screenshot.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.text
    ticket = db.session.scalar(db.select(Ticket))
    assert f"Ticket {ticket.reference} filed" in response.text and "screenshot.png" in response.text
    assert ticket.requester.email == "filer@greenco.example" and ticket.channel is Channel.web
    assert ticket.organization_id == ticket.requester.organization_id is not None
    attachment = db.session.scalar(db.select(Attachment))
    assert attachment.ticket_id == ticket.id and attachment.content_type == "image/png"
    listing = client.get("/widget/tickets", headers=headers)
    assert ticket.reference in listing.text
    reply = client.post(
        f"/widget/tickets/{ticket.reference}/replies", headers=headers, data={"body": "Here is more detail."}
    )
    assert reply.status_code == 200 and "Reply sent." in reply.text and "Here is more detail." in reply.text


def test_a_refused_file_keeps_the_form_and_files_nothing(client, make_site, widget_user):
    site = make_site()
    headers = widget_user(site, "a@x.example")
    response = client.post(
        "/widget/tickets",
        headers=headers,
        data={
            "subject": "Broken",
            "description": "See the page.",
            "category": "data",
            "priority": "medium",
            "attachments": (io.BytesIO(b"<html><script>alert(1)</script></html>"), "page.html"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and 'aria-invalid="true"' in response.text
    assert 'value="Broken"' in response.text
    assert db.session.scalar(db.select(db.func.count()).select_from(Ticket)) == 0


def test_one_widget_user_cannot_read_anothers_ticket(client, make_site, make_org, make_user, make_ticket, widget_user):
    site = make_site()
    org = make_org(domains="acme.example")
    owner = make_user(Role.customer, organization=org, email="owner@acme.example")
    ticket = make_ticket(owner, subject="Acme private question")
    stranger = widget_user(site, "stranger@elsewhere.example")
    for method, path in (
        ("GET", f"/widget/tickets/{ticket.reference}"),
        ("POST", f"/widget/tickets/{ticket.reference}/replies"),
    ):
        response = client.open(path, method=method, headers=stranger, data={"body": "mine now"})
        assert response.status_code == 404, path
        assert "Acme private question" not in response.text
    assert "Acme private question" not in client.get("/widget/tickets", headers=stranger).text
    # A colleague of the same organization sees it, as on the portal's customer pages.
    colleague = widget_user(site, "colleague@acme.example")
    assert "Acme private question" in client.get(f"/widget/tickets/{ticket.reference}", headers=colleague).text
    assert ticket.reference in client.get("/widget/tickets", headers=colleague).text


def test_internal_notes_stay_internal(client, make_site, make_user, make_ticket, widget_user):
    from portal.services import tickets as ticket_service

    site = make_site()
    owner = make_user(Role.customer, email="me@x.example")
    ticket = make_ticket(owner)
    ticket_service.reply_to_ticket(make_user(Role.agent), ticket, "Customer is on the old importer.", internal=True)
    db.session.commit()
    page = client.get(f"/widget/tickets/{ticket.reference}", headers=widget_user(site, "me@x.example"))
    assert page.status_code == 200 and "old importer" not in page.text


def test_suggestions_follow_the_viewer_and_are_logged(
    client,
    make_site,
    make_article,  # noqa: F811
    run_index_jobs,  # noqa: F811
    widget_user,
):
    make_article("Exporting a GRI report to Word", "Open Reports, choose Export.", category="reporting")
    make_article("GRI report internals", "Internal GRI notes for agents.", internal=True, category="reporting")
    run_index_jobs()
    site = make_site()
    headers = widget_user(site, "reader@x.example")
    response = client.get("/widget/suggestions?subject=export+GRI+report+Word", headers=headers)
    assert response.status_code == 200
    assert "Exporting a GRI report to Word" in response.text and "internals" not in response.text
    assert 'name="suggested"' in response.text  # the shown suggestions ride along with the ticket
    drain()  # the search log buffer into the database
    log = db.session.scalar(db.select(SearchLog))
    assert log.source is SearchSource.suggest and log.user_id == find_user_by_email("reader@x.example").id


def test_anonymous_visitors_of_an_open_site_get_suggestions_only(
    client,
    make_site,
    make_article,  # noqa: F811
    run_index_jobs,  # noqa: F811
):
    make_article("Exporting a GRI report to Word", "Open Reports, choose Export.", category="reporting")
    run_index_jobs()
    site = make_site(verified_only=False)
    anonymous = {"X-Widget-Key": site.public_key, "HX-Request": "true"}
    panel = client.get("/widget/panel", headers=anonymous)
    assert panel.status_code == 200 and "sign in" in panel.text and "widget-ticket-form" not in panel.text
    found = client.get("/widget/suggestions?q=GRI+report+Word", headers=anonymous)
    assert "Exporting a GRI report to Word" in found.text
    drain()
    assert db.session.scalar(db.select(SearchLog)).user_id is None
    assert client.get("/widget/tickets", headers=anonymous).status_code == 401
    assert client.post("/widget/tickets", headers=anonymous, data={"subject": "x"}).status_code == 401


def test_this_solved_my_problem_records_a_deflection_and_files_nothing(
    client,
    make_site,
    make_article,  # noqa: F811
    widget_user,
):
    from portal.models.kb import Deflection

    article = make_article("Exporting a GRI report to Word", "Open Reports, choose Export.", category="reporting")
    site = make_site()
    headers = widget_user(site, "helped@x.example")
    opened = client.get(f"/widget/suggestions/article:{article.id}", headers=headers)
    assert opened.status_code == 200 and "This solved my problem" in opened.text
    assert client.get("/widget/suggestions/article:999999", headers=headers).status_code == 404
    response = client.post("/widget/solved", headers=headers, data={"doc": f"article:{article.id}", "text": "GRI"})
    assert response.status_code == 200 and "No ticket was filed" in response.text
    deflection = db.session.scalar(db.select(Deflection))
    assert deflection.article_id == article.id and deflection.user_id == find_user_by_email("helped@x.example").id
    assert db.session.scalar(db.select(db.func.count()).select_from(Ticket)) == 0
    assert client.post("/widget/solved", data={"doc": f"article:{article.id}"}).status_code == 401
