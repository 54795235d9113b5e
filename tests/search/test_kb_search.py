"""KB search quality on the demo content, visibility rules (pages, API, suggestions), index updates, rebuild and
check, and the KB API contract."""

from __future__ import annotations

import shutil

import pytest

from portal.extensions import db
from portal.models import Role
from portal.models.kb import Article, SearchLog
from portal.search.indexing import check_kb, rebuild_kb
from portal.search.kb import search_kb, suggest_kb
from portal.search.schema import KB_INDEX
from portal.search.store import close_searchers, index_path
from portal.services.accounts import create_api_token
from portal.services.kb.articles import ArticleInput, create_article, publish_article, update_article
from portal.services.kb.search_log_buffer import drain
from portal.services.kb.seed import seed_kb


@pytest.fixture
def demo_kb(make_user, run_index_jobs):
    """The real demo articles and FAQs, created through the KB services and indexed in one rebuild (one job per
    article is exercised by the edit test)."""
    make_user(Role.admin)
    added = seed_kb(echo=lambda message: None)
    db.session.commit()
    rebuild_kb()
    return added


def _titles(results):
    return [hit.title for hit in results.hits]


def test_demo_content_search_quality(demo_kb):
    assert demo_kb["articles"] >= 40 and demo_kb["faqs"] >= 25
    # stemming: "importing" finds the article about bulk imports
    assert any("Importing ESG data in bulk" in t for t in _titles(search_kb("importing")))
    # an identifier in snake case is found by its parts, and whole
    saml = _titles(search_kb("saml assertion"))
    assert any("single sign-on" in t.lower() for t in saml)
    assert _titles(search_kb("SSO_SAML_ASSERTION_INVALID"))
    # a misspelled query gets a "did you mean"
    misspelled = search_kb("validaton erors")
    assert misspelled.did_you_mean == "validation errors"
    assert search_kb("validation errors").did_you_mean is None


def test_internal_articles_only_for_staff(demo_kb, client, make_user, login_as):
    internal = db.session.scalar(db.select(Article).where(Article.internal_only.is_(True)))
    assert internal is not None
    query = "unlock reporting period playbook"
    assert internal.title not in _titles(search_kb(query))
    assert internal.title in _titles(search_kb(query, staff=True))
    assert internal.title not in _titles(suggest_kb(query))
    # through the page, anonymously and as a customer
    assert internal.title not in client.get("/kb/search", query_string={"q": query}).text
    org_customer = make_user(Role.customer)
    login_as(org_customer)
    assert internal.title not in client.get("/kb/search", query_string={"q": query}).text
    suggestions = client.get("/portal/tickets/new/suggestions", query_string={"subject": query})
    assert suggestions.status_code == 200 and internal.title not in suggestions.text


def test_drafts_never_appear_publicly(make_article, make_user, client, run_index_jobs):
    make_article("Quokka exporter preview", "The quokka exporter is not released yet.", status="draft")
    make_article("Archived quokka guide", "Old quokka instructions.", status="archived")
    run_index_jobs()
    assert search_kb("quokka").total == 0
    assert search_kb("quokka", staff=True).total == 0  # search shows published content only; curation lists drafts
    assert client.get("/api/v1/kb/search?q=quokka").json["total"] == 0
    assert "Quokka" not in client.get("/kb/search?q=quokka").text


def test_an_article_edit_is_searchable_after_the_index_job(make_user, kb_category, run_index_jobs):
    admin = make_user(Role.admin)
    kb_category("troubleshooting", "Troubleshooting")
    article = create_article(
        admin,
        ArticleInput(
            title="Meter gateway offline",
            body_markdown="Restart the **gateway** and check the LED.",
            category="troubleshooting",
        ),
    )
    publish_article(admin, article)
    run_index_jobs()
    assert _titles(search_kb("gateway")) == ["Meter gateway offline"]
    assert search_kb("firmware").total == 0

    update_article(
        admin,
        article,
        ArticleInput(
            title="Meter gateway offline",
            body_markdown="Update the firmware, then restart.",
            category="troubleshooting",
        ),
        expected_version=article.version,
    )
    db.session.commit()
    assert search_kb("firmware").total == 0  # not before the job ran
    run_index_jobs()
    assert _titles(search_kb("firmware")) == ["Meter gateway offline"]
    assert "<mark>firmware</mark>" in search_kb("firmware").hits[0].snippet


def test_rebuild_restores_every_document_and_check_reports_drift(demo_kb, runner, app):
    expected = demo_kb["articles"] + demo_kb["faqs"]
    assert check_kb().ok
    close_searchers()
    shutil.rmtree(index_path(KB_INDEX))  # the index is lost
    assert search_kb("import").total == 0
    report = check_kb()
    assert len(report.missing) == expected and not report.ok
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1 and f"{expected} missing" in result.output

    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"kb: {expected} documents" in result.output and "100%" in result.output
    assert check_kb().ok and check_kb().documents == expected
    assert search_kb("import").total > 0
    assert runner.invoke(args=["search", "check"]).exit_code == 0


def test_check_reports_stale_documents(make_article, run_index_jobs):
    article = make_article("Ledger sync", "Ledger sync waits for approval.")
    run_index_jobs()
    article.title = "Ledger sync (changed without an index job)"
    article.updated_at = article.updated_at.replace(year=article.updated_at.year + 1)
    db.session.commit()
    report = check_kb()
    assert report.stale == [f"article:{article.id}"]
    assert rebuild_kb() == 1 and check_kb().ok


def test_kb_api_without_and_with_a_token(make_article, make_user, client, run_index_jobs):
    make_article("Carbon ledger export", "Export the carbon ledger as CSV.", tags="export, csv")
    make_article("Carbon ledger escalation", "Internal: escalate carbon ledger bugs to L2.", internal=True)
    run_index_jobs()
    anonymous = client.get("/api/v1/kb/search?q=carbon ledger")
    assert anonymous.status_code == 200
    body = anonymous.json
    assert body["total"] == 1 and body["results"][0]["title"] == "Carbon ledger export"
    assert set(body["results"][0]) == {"title", "url", "snippet", "category", "type"}
    assert body["results"][0]["type"] == "article" and body["results"][0]["category"] == "troubleshooting"
    assert "<mark>" in body["results"][0]["snippet"]

    agent = make_user(Role.agent)
    _token, plain = create_api_token(agent)
    db.session.commit()
    staff = client.get("/api/v1/kb/search?q=carbon ledger", headers={"Authorization": f"Bearer {plain}"})
    assert staff.json["total"] == 2
    suggest = client.get("/api/v1/kb/suggest", query_string={"text": "How do I export my carbon ledger?"})
    assert suggest.status_code == 200 and [r["title"] for r in suggest.json["results"]] == ["Carbon ledger export"]

    assert client.get("/api/v1/kb/search?q=x", headers={"Authorization": "Bearer nope"}).status_code == 401
    problem = client.get("/api/v1/kb/search", query_string={"q": "*"})
    assert problem.status_code == 422 and problem.json["error"]["fields"]["q"]
    assert client.get("/api/v1/kb/suggest").status_code == 422
    assert client.get("/api/v1/kb/search?q=carbon&page=x").status_code == 422
    # following a result URL records the click on the logged search
    follow = client.get(body["results"][0]["url"].replace("http://localhost", ""))
    assert follow.status_code == 303 and "/kb/a/" in follow.headers["Location"]
    drain()  # the search log buffer into the database
    logs = db.session.scalars(db.select(SearchLog).order_by(SearchLog.id)).all()
    assert logs[0].result_count == 1 and logs[0].clicked_article_id is not None


def test_search_page_snippets_are_escaped_and_paginated(make_article, client, run_index_jobs):
    make_article("Escaping check", "Type `<script>alert(1)</script>` into the widget field to reproduce.")
    for n in range(12):
        make_article(f"Widget guide {n}", "The widget shows totals.", category="reporting")
    run_index_jobs()
    page = client.get("/kb/search?q=widget")
    assert page.status_code == 200 and "13 results" in page.text
    escaped = client.get("/kb/search?q=reproduce").text
    assert "<script>alert(1)" not in escaped and "&lt;script&gt;alert(1)" in escaped
    assert "Page 1 of 2" in page.text
    assert "Page 2 of 2" in client.get("/kb/search?q=widget&page=2").text
    reporting = client.get("/kb/search?q=widget&category=reporting")
    assert "12 results" in reporting.text
    long = client.get("/kb/search", query_string={"q": "word " * 50})
    assert long.status_code == 200 and "at most 200" in long.text
