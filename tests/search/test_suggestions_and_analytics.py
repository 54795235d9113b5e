"""Suggestions while filing, deflections, shown suggestions saved with the ticket, and the admin KB reports."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Role, Ticket
from portal.models.kb import Deflection, SearchLog, SearchSource, TicketSuggestion
from portal.services.kb.search_log_buffer import drain
from tests.conftest import csrf_from, login


def test_suggest_open_solve_records_a_deflection_and_files_nothing(
    make_article, make_org, make_user, login_as, run_index_jobs
):
    article = make_article("Resetting the boiler meter", "Hold the reset button of the boiler meter for 5 seconds.")
    make_article("Boiler escalation runbook", "Internal boiler runbook for agents.", internal=True)
    run_index_jobs()
    client, _ = login_as(make_user(Role.customer, organization=make_org()))

    listing = client.get("/portal/tickets/new/suggestions", query_string={"subject": "boiler meter reset"})
    assert listing.status_code == 200
    assert article.title in listing.text and "Boiler escalation runbook" not in listing.text
    assert f'name="suggested" value="article:{article.id}"' in listing.text and 'hx-swap-oob="true"' in listing.text
    drain()  # the search log buffer into the database
    log = db.session.scalars(db.select(SearchLog)).one()
    assert log.source is SearchSource.suggest and log.result_count == 1

    opened = client.get(
        f"/portal/tickets/new/suggestions/article:{article.id}",
        query_string={"subject": "boiler meter reset", "log": log.uuid},
    )
    assert opened.status_code == 200 and "This solved my problem" in opened.text and "Still need help" in opened.text
    drain()
    db.session.expire_all()
    assert db.session.get(SearchLog, log.id).clicked_article_id == article.id

    solved = client.post(
        "/portal/tickets/new/solved",
        data={"doc": f"article:{article.id}", "text": "boiler meter reset", "csrf_token": csrf_from(opened.text)},
    )
    assert solved.status_code == 303 and solved.headers["Location"].endswith("/portal/")
    deflection = db.session.scalars(db.select(Deflection)).one()
    assert deflection.article_id == article.id and deflection.query == "boiler meter reset"
    assert db.session.scalar(db.select(db.func.count()).select_from(Ticket)) == 0


def test_internal_and_draft_documents_cannot_be_opened_or_deflected(
    make_article, make_user, make_org, login_as, run_index_jobs
):
    internal = make_article("Runbook", "Internal.", internal=True)
    draft = make_article("Draft", "Not yet.", status="draft")
    run_index_jobs()
    client, token = login_as(make_user(Role.customer, organization=make_org()))
    for doc in (f"article:{internal.id}", f"article:{draft.id}", "article:999", "ticket:1"):
        assert client.get(f"/portal/tickets/new/suggestions/{doc}").status_code == 404
        assert client.post("/portal/tickets/new/solved", data={"doc": doc, "csrf_token": token}).status_code == 404
    assert db.session.scalar(db.select(db.func.count()).select_from(Deflection)) == 0


def test_suggestions_never_show_tickets_or_other_organizations_text(
    make_article, make_org, make_user, make_ticket, login_as, run_index_jobs
):
    stranger = make_user(Role.customer, organization=make_org())
    make_ticket(stranger, subject="Walrus boiler secret", description="Walrus boiler confidential numbers.")
    make_article("Walrus boiler basics", "Public walrus boiler help.")
    run_index_jobs()
    client, _ = login_as(make_user(Role.customer, organization=make_org()))
    text = client.get("/portal/tickets/new/suggestions", query_string={"subject": "walrus boiler"}).text
    assert "Walrus boiler basics" in text and "secret" not in text and "confidential" not in text
    search = client.get("/portal/search", query_string={"q": "walrus"})
    assert search.status_code == 200 and "0 tickets match" in search.text and "secret" not in search.text


def test_filing_after_suggestions_saves_which_were_shown(
    make_article, make_faq, make_org, make_user, login_as, run_index_jobs
):
    article = make_article("Export to Excel", "Use the export button.")
    faq = make_faq("Can I export to Excel?", "Yes, from every report.")
    internal = make_article("Export internals", "Internal.", internal=True)
    run_index_jobs()
    client, _ = login_as(make_user(Role.customer, organization=make_org()))
    form = client.get("/portal/tickets/new")
    assert 'id="kb-suggestions"' in form.text and "delay:400ms" in form.text
    response = client.post(
        "/portal/tickets/new",
        data={
            "subject": "Excel export",
            "description": "I still cannot export.",
            "category": "data",
            "priority": "low",
            "csrf_token": csrf_from(form.text),
            "suggested": [
                f"article:{article.id}",
                f"faq:{faq.id}",
                f"article:{article.id}",
                f"article:{internal.id}",
                "bogus",
            ],
        },
    )
    assert response.status_code == 303
    rows = db.session.scalars(db.select(TicketSuggestion).order_by(TicketSuggestion.id)).all()
    assert [(r.article_id, r.faq_id) for r in rows] == [(article.id, None), (None, faq.id)]


def test_kb_reports_show_gaps_deflections_and_savings(
    make_article, make_user, make_org, login_as, client, run_index_jobs
):
    article = make_article("Scope 3 supplier survey", "Send the supplier survey from Scope 3.")
    run_index_jobs()
    client.get("/kb/search?q=hydrogen electrolyser")  # no results: a gap
    client.get("/kb/search?q=hydrogen electrolysers")  # same question, grouped
    client.get("/kb/search?q=supplier survey")  # results but no click: a gap too
    customer = make_user(Role.customer, organization=make_org())
    db.session.add_all([Deflection(article_id=article.id, user_id=customer.id, query="survey") for _ in range(3)])
    db.session.commit()
    admin = make_user(Role.admin)
    admin_client, _ = login_as(admin)
    page = admin_client.get("/admin/kb/reports")
    assert page.status_code == 200
    assert "hydrogen electrolyser" in page.text and "supplier survey" in page.text
    assert "$570" in page.text and "Scope 3 supplier survey" in page.text  # 3 × $190
    from portal.services.kb.reports import kb_gaps

    gaps = {row.query: row.searches for row in kb_gaps()}
    assert gaps["hydrogen electrolyser"] == 2
    assert "KB reports" in admin_client.get("/admin/").text


def test_following_an_faq_result_closes_the_gap(make_faq, run_index_jobs, client):
    from portal.services.kb.analytics import click_token
    from portal.services.kb.reports import kb_gaps

    faq = make_faq("How do I reset my password?", "Use *Forgot password* on the sign-in page.")
    run_index_jobs()
    page = client.get("/kb/search?q=reset password")
    assert "How do I reset my password?" in page.text
    drain()
    log = db.session.scalars(db.select(SearchLog).order_by(SearchLog.id.desc())).first()
    assert "reset password" in {row.query for row in kb_gaps()}  # searched, nothing opened yet
    response = client.get(f"/kb/search/go?t={click_token(log.id, f'faq:{faq.id}')}")
    assert response.status_code == 303
    drain()
    db.session.expire_all()
    assert db.session.get(SearchLog, log.id).clicked_faq_id == faq.id
    assert "reset password" not in {row.query for row in kb_gaps()}


def test_suggestion_look_ups_are_logged_apart_and_are_not_gaps(
    app, make_article, make_org, make_user, login_as, run_index_jobs
):
    make_article("Scope 3 supplier survey", "Send the supplier survey from Scope 3.")
    run_index_jobs()
    customer = make_user(Role.customer, organization=make_org())
    client, _ = login_as(customer)
    described = "Our auditor cannot open the walrus ledger since Monday and the quarterly deadline is Friday"
    client.get("/portal/tickets/new/suggestions", query_string={"subject": "Walrus ledger", "description": described})
    client.get("/portal/tickets/new/suggestions", query_string={"subject": "supplier survey"})  # found, not opened
    client.get("/kb/search", query_string={"q": "walrus ledger"})  # typed by the customer: a gap
    drain()
    sources = {(log.source, log.query[:13]) for log in db.session.scalars(db.select(SearchLog))}
    assert sources == {
        (SearchSource.suggest, "Walrus ledger"),
        (SearchSource.suggest, "supplier surv"),
        (SearchSource.kb, "walrus ledger"),
    }

    from portal.services.kb.reports import kb_gaps, lookup_summary, top_searches, unanswered_lookups

    assert [row.query for row in kb_gaps()] == ["walrus ledger"]
    assert [row.query for row in top_searches()] == ["walrus ledger"]
    summary = lookup_summary()
    assert (summary.lookups, summary.with_results, summary.opened) == (2, 1, 0)
    assert [row.query[:13] for row in unanswered_lookups()] == ["Walrus ledger"]

    admin_client = app.test_client()
    assert login(admin_client, make_user(Role.admin)).status_code == 302
    page = admin_client.get("/admin/kb/reports").text
    gaps = page[page.index('id="gaps-h"') : page.index('id="lookups-h"')]
    lookups = page[page.index('id="lookups-h"') : page.index('id="top-h"')]
    assert "walrus ledger" in gaps and "auditor" not in gaps and "supplier survey" not in gaps
    assert "2 look-ups for suggestions" in lookups and "auditor cannot open" in lookups


def test_report_wording_is_singular_or_plural(make_article, make_org, make_user, login_as, run_index_jobs):
    article = make_article("Export to Excel", "Use the export button.")
    run_index_jobs()
    customer = make_user(Role.customer, organization=make_org())
    admin_client, _ = login_as(make_user(Role.admin))

    def report() -> str:
        return " ".join(admin_client.get("/admin/kb/reports").text.split())

    assert "0 tickets were filed after 0 suggestions had been shown" in report()
    assert "<strong>0</strong> visits ended" in report() and "0 look-ups for suggestions" in report()
    ticket = Ticket(subject="Excel", description="Export", requester=customer, organization=customer.organization)
    db.session.add(ticket)
    db.session.flush()
    db.session.add_all([TicketSuggestion(ticket_id=ticket.id, article_id=article.id)])
    db.session.add(Deflection(article_id=article.id, user_id=customer.id, query="excel"))
    db.session.add(SearchLog(query="excel", normalized_query="excel", source=SearchSource.suggest, result_count=1))
    db.session.commit()
    text = report()
    assert "1 ticket was filed after 1 suggestion had been shown" in text
    assert "<strong>1</strong> visit ended" in text and "1 look-up for suggestions" in text
    assert "1 look-up found something" in text
    second = Ticket(subject="Excel 2", description="Export", requester=customer, organization=customer.organization)
    db.session.add(second)
    db.session.flush()
    db.session.add_all(
        [TicketSuggestion(ticket_id=second.id, article_id=article.id), Deflection(article_id=article.id, query="x")]
    )
    db.session.commit()
    text = report()
    assert "2 tickets were filed after 2 suggestions had been shown" in text
    assert "<strong>2</strong> visits ended" in text
