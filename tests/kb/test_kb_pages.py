"""The help centre and the curation pages over HTTP: who sees what, editing with revisions and conflicts, FAQ
ordering, feedback, drafting from a ticket, and that hostile Markdown never reaches a page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role
from portal.models.kb import Article, ArticleFeedback, ArticleStatus, Faq
from portal.services import tickets as ticket_service
from portal.services.kb.articles import ArticleInput, archive_article, create_article, publish_article, update_article
from portal.services.kb.faqs import save_faq
from portal.services.kb.revisions import revisions
from tests.conftest import csrf_from, login


def _article(author, *, status="published", internal=False, title="Exporting a GRI report", **extra):
    article = create_article(
        author,
        ArticleInput(
            title=title,
            body_markdown=extra.pop("body", "Open **Reports → GRI** and press *Export*."),
            category=extra.pop("category", "reporting"),
            summary="How to export",
            tags=extra.pop("tags", "gri, export"),
            internal_only=internal,
            **extra,
        ),
    )
    if status == "published":
        publish_article(author, article)
    elif status == "archived":
        publish_article(author, article)
        archive_article(author, article)
    db.session.commit()
    return article


@pytest.fixture
def admin(make_user):
    return make_user(Role.admin)


# --------------------------------------------------------------------------- access


def test_public_pages_need_no_login_and_show_published_public_articles(client, admin):
    public = _article(admin)
    internal = _article(admin, internal=True, title="Escalation playbook for SSO_SAML outages")
    draft = _article(admin, status="draft", title="Unreleased dashboard")
    archived = _article(admin, status="archived", title="Old exporter")
    home = client.get("/kb/")
    assert home.status_code == 200 and "Getting Started" in home.text and "Troubleshooting" in home.text
    category = client.get("/kb/c/reporting")
    assert public.title in category.text
    for hidden in (internal, draft, archived):
        assert hidden.title not in home.text and hidden.title not in category.text
        assert client.get(f"/kb/a/{hidden.slug}").status_code == 404
    page = client.get(f"/kb/a/{public.slug}")
    assert page.status_code == 200 and "<strong>Reports → GRI</strong>" in page.text
    db.session.expire_all()
    assert db.session.get(Article, public.id).view_count == 1


def test_internal_articles_for_staff_only_and_drafts_never_on_public_pages(client, admin, make_user, make_org):
    internal = _article(admin, internal=True, title="Escalation playbook")
    draft = _article(admin, status="draft", title="Unreleased dashboard")
    customer = make_user(Role.customer, organization=make_org())
    login(client, customer)
    assert client.get(f"/kb/a/{internal.slug}").status_code == 404
    assert internal.title not in client.get("/kb/c/reporting").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/kb/").text)})
    login(client, make_user(Role.agent))
    assert client.get(f"/kb/a/{internal.slug}").status_code == 200
    assert "Escalation playbook" in client.get("/kb/c/reporting").text
    assert client.get(f"/kb/a/{draft.slug}").status_code == 404  # drafts are previewed in the editor only


def test_category_pages_are_paginated(client, admin):
    for n in range(23):
        _article(admin, title=f"Reporting tip {n:02d}")
    first, second = client.get("/kb/c/reporting"), client.get("/kb/c/reporting?page=2")
    listed = first.text.split("articles, newest first", 1)[1]  # page 1 shows the most viewed first
    assert listed.count('class="kb-item"') == 20 and "Next page" in first.text
    assert second.text.count('class="kb-item"') == 3 and "Previous page" in second.text
    assert "Most viewed" not in second.text
    assert client.get("/kb/c/reporting?page=abc").status_code == 200


def test_popular_articles_are_the_most_viewed_first_ties_by_title(client, admin, make_user):
    views = {"Alpha basics": 3, "Zeta dashboards": 40, "Gamma exports": 12, "Beta imports": 12, "Delta audit": 0}
    views["Epsilon charts"] = 1
    for title, count in views.items():
        article = _article(admin, title=title, category="reporting")
        article.view_count = count
    _article(admin, title="Omega internal", category="reporting", internal=True).view_count = 99
    _article(admin, title="Eta admin", category="admin").view_count = 25
    _article(admin, title="Draft with views", category="reporting", status="draft").view_count = 500
    db.session.commit()

    def popular(html: str, heading: str) -> list[str]:
        section = html.split(heading, 1)[1].split("</section>", 1)[0]
        return re.findall(r'<a href="/kb/a/[^"]+">([^<]+)</a>', section)

    home = client.get("/kb/").text
    expected = ["Zeta dashboards", "Eta admin", "Beta imports", "Gamma exports", "Alpha basics", "Epsilon charts"]
    assert popular(home, "Popular articles") == expected + ["Delta audit"]  # no drafts, no internal ones
    category = client.get("/kb/c/reporting").text
    assert popular(category, "Most viewed in Reporting") == [t for t in expected if t != "Eta admin"][:5]
    agent = make_user(Role.agent)
    assert login(client, agent).status_code == 302
    assert popular(client.get("/kb/").text, "Popular articles")[0] == "Omega internal"  # staff read internal ones


def test_related_articles_share_tags_or_category(client, admin):
    main = _article(admin, tags="gri, export")
    sibling = _article(admin, title="GRI index mapping", category="data-entry", tags="gri")
    unrelated = _article(admin, title="Two-factor setup", category="admin", tags="2fa")
    text = client.get(f"/kb/a/{main.slug}").text
    related = text.split("Related articles", 1)[1]
    assert sibling.title in related and unrelated.title not in related


def test_faq_and_video_pages(client, admin):
    save_faq(admin, None, category="admin", question="How do I add a user?", answer_markdown="Go to **Admin**.")
    save_faq(admin, None, category="admin", question="Hidden question?", answer_markdown="x", is_published=False)
    _article(admin, title="Tour of the dashboard", video_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    db.session.commit()
    faqs = client.get("/kb/faq").text
    assert "<summary>How do I add a user?</summary>" in faqs and "<strong>Admin</strong>" in faqs
    assert "Hidden question?" not in faqs
    assert "How do I add a user?" in client.get("/kb/faq/admin").text
    assert "How do I add a user?" not in client.get("/kb/faq/reporting").text
    videos = client.get("/kb/videos").text
    assert 'src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"' in videos and "Tour of the dashboard" in videos


# --------------------------------------------------------------------------- sanitizer


HOSTILE = """# Title

<script>alert('xss')</script>
<img src=x onerror="alert(1)">
<a href="javascript:alert(2)">raw link</a>
[md link](javascript:alert(3)) [data link](data:text/html;base64,PHNjcmlwdD4=)
![pic](data:image/svg+xml;base64,PHN2Zz4=)
<iframe src="https://evil.test"></iframe><style>body{display:none}</style>
<div onclick="steal()">click</div>
[ok](https://example.test/docs)
"""


def test_hostile_markdown_never_reaches_a_page(client, admin, login_as):
    article = _article(admin, body=HOSTILE)
    save_faq(admin, None, category="reporting", question="Hostile?", answer_markdown=HOSTILE)
    db.session.commit()
    pages = [client.get(f"/kb/a/{article.slug}").text, client.get("/kb/faq").text]
    c, token = login_as(admin)
    pages.append(c.post("/admin/kb/preview", data={"body_markdown": HOSTILE}, headers={"X-CSRFToken": token}).text)
    pages.append(c.get(f"/admin/kb/{article.id}/edit").text.split('<h2 id="preview-h">', 1)[1])
    for html in pages:
        assert "<script>alert" not in html and '<iframe src="https://evil' not in html and "<style>" not in html
        assert not re.search(r"<[^>]+\son\w+\s*=", html.split("<textarea", 1)[0] if "<textarea" in html else html)
        assert not re.search(r"<[^>]*\b(href|src)\s*=\s*\"?\s*(javascript|data):", html, re.I)
        assert 'href="https://example.test/docs"' in html


# --------------------------------------------------------------------------- curation over HTTP


def _editor_form(page_html: str, **changes) -> dict:
    data = dict(re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', page_html))
    data["body_markdown"] = re.search(
        r"<textarea[^>]*name=\"body_markdown\"[^>]*>\n?(.*?)</textarea>", page_html, re.S
    ).group(1)
    data["category"] = (
        re.search(r'<option selected value="([^"]+)"|<option value="([^"]+)" selected', page_html).group(1)
        or "reporting"
    )
    data.pop("internal_only", None)
    data.update(changes)
    return data


def test_draft_publish_edit_history_diff_restore(client, admin, login_as):
    c, token = login_as(admin)
    created = c.post(
        "/admin/kb/new",
        data={
            "csrf_token": token,
            "title": "Connecting SAP",
            "category": "integrations",
            "body_markdown": "Step one.\nStep two.",
            "tags": "sap, erp",
        },
    )
    assert created.status_code == 303
    article = db.session.scalar(select(Article).where(Article.title == "Connecting SAP"))
    assert article.status is ArticleStatus.draft and c.get("/kb/a/connecting-sap").status_code == 404
    assert (
        c.post(
            f"/admin/kb/{article.id}/status", data={"csrf_token": token, "version": 1, "action": "publish"}
        ).status_code
        == 303
    )
    assert c.get("/kb/a/connecting-sap").status_code == 200
    editor = c.get(f"/admin/kb/{article.id}/edit").text
    saved = c.post(
        f"/admin/kb/{article.id}/edit",
        data=_editor_form(editor, body_markdown="Step one.\nStep 2, with the RFC user.", note="RFC user"),
    )
    assert saved.status_code == 303
    db.session.expire_all()
    article = db.session.get(Article, article.id)
    assert article.version == 3 and "RFC user" in c.get("/kb/a/connecting-sap").text
    saved = revisions(article)
    assert [(r.version, r.note) for r in saved] == [(3, "RFC user"), (2, "Published"), (1, "Created")]
    history = c.get(f"/admin/kb/{article.id}/history").text
    assert "RFC user" in history
    diff = c.get(f"/admin/kb/{article.id}/revisions/{saved[0].id}").text
    assert '<div class="del"><span class="visually-hidden">Removed: </span>- Step two.</div>' in diff
    assert '<div class="add"><span class="visually-hidden">Added: </span>+ Step 2, with the RFC user.</div>' in diff
    restored = c.post(
        f"/admin/kb/{article.id}/revisions/{saved[2].id}/restore", data={"csrf_token": token, "version": 3}
    )
    assert restored.status_code == 303
    db.session.expire_all()
    assert db.session.get(Article, article.id).body_markdown == "Step one.\nStep two."
    assert (
        c.post(
            f"/admin/kb/{article.id}/status", data={"csrf_token": token, "version": 4, "action": "archive"}
        ).status_code
        == 303
    )
    assert c.get("/kb/a/connecting-sap").status_code == 404


def test_stale_save_is_409_with_a_clear_message_and_keeps_the_text(client, admin, login_as):
    article = _article(admin)
    c, token = login_as(admin)
    editor = c.get(f"/admin/kb/{article.id}/edit").text
    update_article(
        admin,
        db.session.get(Article, article.id),
        ArticleInput(title=article.title, body_markdown="Someone else's text", category="reporting"),
        expected_version=article.version,
    )
    db.session.commit()
    response = c.post(f"/admin/kb/{article.id}/edit", data=_editor_form(editor, body_markdown="My careful edit"))
    assert response.status_code == 409
    assert "changed by someone else while you were editing" in response.text and "My careful edit" in response.text
    db.session.expire_all()
    assert db.session.get(Article, article.id).body_markdown == "Someone else's text"


def test_validation_errors_are_shown_not_500(client, admin, login_as):
    c, token = login_as(admin)
    response = c.post(
        "/admin/kb/new",
        data={
            "csrf_token": token,
            "title": "Video",
            "category": "reporting",
            "body_markdown": "x",
            "video_url": "https://evil.test/v.mp4",
        },
    )
    assert response.status_code == 422 and "Use a YouTube" in response.text


def test_agents_contribute_drafts_but_cannot_publish_or_curate(client, admin, make_user, login_as):
    agent = make_user(Role.agent)
    c, token = login_as(agent)
    response = c.post(
        "/admin/kb/new",
        data={
            "csrf_token": token,
            "title": "Agent tip",
            "category": "troubleshooting",
            "body_markdown": "Clear the cache.",
        },
    )
    assert response.status_code == 303
    article = db.session.scalar(select(Article).where(Article.title == "Agent tip"))
    assert c.get(f"/admin/kb/{article.id}/edit").status_code == 200
    assert c.post(f"/admin/kb/{article.id}/status", data={"csrf_token": token, "action": "publish"}).status_code == 403
    assert c.get("/admin/kb/faqs").status_code == 403 and c.get("/admin/kb/needs-update").status_code == 403
    other = _article(admin, status="draft", title="Admin draft")
    assert c.get(f"/admin/kb/{other.id}/edit").status_code == 403
    mine = c.get("/admin/kb/")  # the agent's own articles: their drafts list
    assert mine.status_code == 200 and "My articles" in mine.text
    assert "Agent tip" in mine.text and "Admin draft" not in mine.text
    assert c.get(f"/admin/kb/{other.id}/history").status_code == 403


def test_customers_cannot_reach_curation(client, make_user, make_org, login_as):
    c, token = login_as(make_user(Role.customer, organization=make_org()))
    assert c.get("/admin/kb/new").status_code == 403
    assert c.post("/admin/kb/preview", data={"body_markdown": "x"}, headers={"X-CSRFToken": token}).status_code == 403


def test_faq_management_and_reorder(client, admin, login_as):
    c, token = login_as(admin)
    for q in ("First?", "Second?", "Third?"):
        assert (
            c.post(
                "/admin/kb/faqs/new",
                data={
                    "csrf_token": token,
                    "category": "data-entry",
                    "question": q,
                    "answer_markdown": f"Answer to {q}",
                    "is_published": "y",
                },
            ).status_code
            == 303
        )
    third = db.session.scalar(select(Faq).where(Faq.question == "Third?"))
    assert c.post(f"/admin/kb/faqs/{third.id}/move", data={"csrf_token": token, "direction": "up"}).status_code == 303
    public = c.get("/kb/faq/data-entry").text
    assert public.index("First?") < public.index("Third?") < public.index("Second?")
    listing = c.get("/admin/kb/faqs").text
    assert listing.index("First?") < listing.index("Third?") < listing.index("Second?")


# --------------------------------------------------------------------------- feedback


def test_anonymous_feedback_one_vote_per_session_with_reason_and_needs_update_queue(client, admin, app, login_as):
    article = _article(admin)
    page = client.get(f"/kb/a/{article.slug}")
    token = csrf_from(page.text)
    url = f"/kb/a/{article.slug}/feedback"
    assert "Thanks — glad it helped" in client.post(url, data={"csrf_token": token, "helpful": "yes"}).text
    client.post(url, data={"csrf_token": token, "helpful": "yes"})
    assert db.session.scalar(select(func.count(ArticleFeedback.id))) == 1
    response = client.post(
        url,
        data={"csrf_token": token, "helpful": "no", "reason": "Screenshots are outdated"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "improve this article" in response.text
    db.session.expire_all()
    a = db.session.get(Article, article.id)
    assert (a.helpful_yes, a.helpful_no, a.needs_update) == (0, 1, True)
    assert client.post(url, data={"csrf_token": token, "helpful": "maybe"}).status_code == 400
    assert client.post(url, data={"helpful": "yes"}).status_code == 400  # no CSRF token
    c, _ = login_as(admin)
    queue = c.get("/admin/kb/needs-update").text
    assert article.title in queue and "Screenshots are outdated" in queue


def test_feedback_on_hidden_articles_is_404(client, admin):
    draft = _article(admin, status="draft")
    token = csrf_from(client.get("/kb/").text)
    assert client.post(f"/kb/a/{draft.slug}/feedback", data={"csrf_token": token, "helpful": "no"}).status_code == 404


# --------------------------------------------------------------------------- draft from a ticket


def test_draft_from_solved_ticket_prefills_question_and_public_answer(
    client, make_user, make_org, make_ticket, login_as
):
    org = make_org()
    customer, agent = make_user(Role.customer, organization=org), make_user(Role.agent)
    ticket = make_ticket(customer, subject="GRI export stops at 99%", description="The export never finishes.")
    ticket_service.reply_to_ticket(agent, ticket, "Secret: customer is on the legacy plan", internal=True)
    ticket_service.reply_to_ticket(agent, ticket, "Remove empty disclosures, then export again.")
    db.session.commit()
    c, token = login_as(agent)
    assert c.get(f"/admin/kb/from-ticket/{ticket.reference}").status_code == 409  # not solved yet
    assert "Draft an article" not in c.get(f"/agent/tickets/{ticket.reference}").text
    ticket_service.mark_solved(agent, ticket, expected_version=ticket.version)
    db.session.commit()
    assert "Draft an article from this ticket" in c.get(f"/agent/tickets/{ticket.reference}").text
    page = c.get(f"/admin/kb/from-ticket/{ticket.reference}").text
    assert 'value="GRI export stops at 99%"' in page and "The export never finishes." in page
    assert "Remove empty disclosures, then export again." in page and "legacy plan" not in page
    assert re.search(r'<option selected value="data-entry">', page)  # the ticket's "data" category
    form = _editor_form(page)
    assert c.post("/admin/kb/new", data=form).status_code == 303
    article = db.session.scalar(select(Article).where(Article.title == "GRI export stops at 99%"))
    assert article.source_ticket_id == ticket.id and article.status is ArticleStatus.draft


def test_customer_cannot_draft_from_ticket(client, make_user, make_org, make_ticket, login_as):
    customer = make_user(Role.customer, organization=make_org())
    ticket = make_ticket(customer)
    c, _ = login_as(customer)
    assert c.get(f"/admin/kb/from-ticket/{ticket.reference}").status_code == 403


def test_senior_agent_reaches_the_draft_drafted_from_a_ticket_in_their_list(
    app, admin, make_user, make_org, make_ticket, login_as
):
    customer = make_user(Role.customer, organization=make_org())
    senior = make_user(Role.senior_agent)
    ticket = make_ticket(customer, subject="Scope 2 totals differ", description="Location and market totals differ.")
    ticket_service.reply_to_ticket(senior, ticket, "Choose the market-based method in the report settings.")
    ticket_service.mark_solved(senior, ticket, expected_version=ticket.version)
    db.session.commit()
    published = _article(senior, status="draft", title="Senior tip")  # drafted earlier, published by an admin
    publish_article(admin, published)
    db.session.commit()
    _article(admin, status="draft", title="Admin-only draft")
    c, token = login_as(senior)
    page = c.get(f"/agent/tickets/{ticket.reference}").text
    assert f"/admin/kb/from-ticket/{ticket.reference}" in page
    saved = c.post("/admin/kb/new", data=_editor_form(c.get(f"/admin/kb/from-ticket/{ticket.reference}").text))
    assert saved.status_code == 303
    draft = db.session.scalar(select(Article).where(Article.title == "Scope 2 totals differ"))
    editor = c.get(saved.headers["Location"])
    assert editor.status_code == 200 and 'href="/admin/kb/"' in editor.text  # the way to the drafts list

    listing = c.get("/admin/kb/")
    assert listing.status_code == 200
    assert "Scope 2 totals differ" in listing.text and f"/admin/kb/{draft.id}/edit" in listing.text
    assert "Senior tip" in listing.text and f"/admin/kb/{published.id}/history" in listing.text  # read only now
    assert "Admin-only draft" not in listing.text and "Needs update" not in listing.text
    drafts_only = c.get("/admin/kb/", query_string={"status": "draft"}).text
    assert "Scope 2 totals differ" in drafts_only and "Senior tip" not in drafts_only
    assert c.get(f"/admin/kb/{draft.id}/history").status_code == 200
    assert c.get(f"/admin/kb/{published.id}/history").status_code == 200
    assert c.get(f"/admin/kb/{published.id}/edit").status_code == 403  # published: curators edit it
    assert c.post(f"/admin/kb/{draft.id}/status", data={"csrf_token": token, "action": "publish"}).status_code == 403

    curator = app.test_client()
    assert login(curator, admin).status_code == 302
    everything = curator.get("/admin/kb/").text
    assert "Scope 2 totals differ" in everything and "Admin-only draft" in everything
