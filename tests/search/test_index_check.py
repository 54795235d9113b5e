"""``search check`` compares what each indexed document says with what the database says (a content digest per
document), not only which documents exist or which change stamp they carry."""

from __future__ import annotations

from sqlalchemy import update

from portal.extensions import db
from portal.models import EventKind, Role, Ticket, TicketEvent
from portal.models.kb import Article, Faq, KbCategory
from portal.search.indexing import check_kb, check_tickets, rebuild_kb, rebuild_tickets


def test_a_ticket_changed_behind_the_index_is_stale_even_with_the_same_change_stamp(
    make_org, make_user, make_ticket, run_index_jobs, runner
):
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    changed = make_ticket(customer, subject="Meter offline", description="No readings since Monday.")
    noted = make_ticket(customer, subject="Export question", description="Where is the export?")
    untouched = make_ticket(customer, subject="Dashboard", description="Slow.")
    run_index_jobs()
    assert check_tickets().ok
    ids = (changed.id, noted.id, untouched.id)

    # The rows change, their updated_at does not, no index job runs (a data fix in SQL, a lost job ...).
    db.session.execute(update(Ticket).where(Ticket.id == ids[0]).values(subject="Meter offline since the upgrade"))
    db.session.add(TicketEvent(ticket_id=ids[1], kind=EventKind.internal_note, author_id=agent.id, body="Use CSV."))
    db.session.commit()

    report = check_tickets()
    assert report.stale == [str(ids[0]), str(ids[1])] and not report.missing and not report.orphaned
    assert check_tickets(content=False).ok  # the change stamps alone cannot tell
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1 and "2 stale" in result.output and f"stale: {ids[0]}, {ids[1]}" in result.output
    quick = runner.invoke(args=["search", "check", "--quick"]).output
    assert "tickets: 3 rows, 3 documents (change stamps only) — 0 missing, 0 stale" in quick

    rebuild_tickets()
    assert check_tickets().ok


def test_kb_documents_go_stale_when_their_category_or_text_changes(make_article, make_faq, run_index_jobs):
    article = make_article("Ledger sync", "Ledger sync waits for approval.")
    faq = make_faq("Can I sync twice?", "Yes.")
    run_index_jobs()
    assert check_kb().ok
    ids = (article.id, faq.id, article.category_id)
    db.session.execute(update(KbCategory).where(KbCategory.id == ids[2]).values(name="Fixes"))  # shown in results
    db.session.execute(update(Faq).where(Faq.id == ids[1]).values(answer_markdown="Yes, twice a day."))
    db.session.commit()
    assert check_kb().stale == [f"article:{ids[0]}", f"faq:{ids[1]}"]
    assert check_kb(content=False).ok
    assert rebuild_kb() == 2 and check_kb().ok
    db.session.execute(update(Article).where(Article.id == ids[0]).values(status="archived"))
    db.session.commit()
    assert check_kb().stale == [f"article:{ids[0]}"]  # a status change is content too (who may find it)
