"""Ticket search: full text over every reply and note for staff, own organization and public text for customers,
with the access rule inside the Whoosh query."""

from __future__ import annotations

import shutil

from sqlalchemy import select
from whoosh import index as whoosh_index

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role
from portal.search.schema import TICKET_INDEX, ticket_schema
from portal.search.store import close_searchers, index_path
from portal.search.tickets import TicketSearchFilters, search_tickets
from portal.services import tickets as ticket_service


def _ids(results):
    return [hit.ticket_id for hit in results.hits]


def test_a_word_only_in_a_reply_finds_the_ticket(make_org, make_user, make_ticket, run_index_jobs):
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    agent = make_user(Role.agent)
    ticket = make_ticket(customer, subject="Report totals look wrong", description="Numbers differ from last week.")
    make_ticket(customer, subject="Another question", description="Nothing to see.")
    ticket_service.reply_to_ticket(agent, ticket, "Please recalibrate the emission factor via the quarantine view.")
    run_index_jobs()

    results = search_tickets(agent, "quarantine")
    assert _ids(results) == [ticket.id]
    assert "<mark>quarantine</mark>" in results.hits[0].snippet
    assert _ids(search_tickets(customer, "quarantine")) == [ticket.id]  # public reply: the customer sees it too


def test_stemming_and_identifier_parts(make_org, make_user, make_ticket, run_index_jobs):
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    imports = make_ticket(customer, subject="CSV import stops", description="The import stops at row 3.")
    sso = make_ticket(customer, subject="Login broken", description="Our SSO_SAML setting rejects the certificate.")
    run_index_jobs()

    assert _ids(search_tickets(agent, "importing")) == [imports.id]
    assert _ids(search_tickets(agent, "saml")) == [sso.id]
    assert _ids(search_tickets(agent, "SSO_SAML")) == [sso.id]


def test_customers_never_see_other_organizations_or_internal_notes(make_org, make_user, make_ticket, run_index_jobs):
    ours, theirs = make_org(), make_org()
    me = make_user(Role.customer, organization=ours)
    colleague = make_user(Role.customer, organization=ours)
    stranger = make_user(Role.customer, organization=theirs)
    agent = make_user(Role.agent)
    mine = make_ticket(me, subject="Boiler meter offline", description="The boiler meter sends nothing.")
    colleagues = make_ticket(colleague, subject="Boiler dashboard", description="Boiler values missing.")
    foreign = make_ticket(stranger, subject="Boiler import", description="Boiler rows rejected.")
    ticket_service.reply_to_ticket(agent, mine, "Customer seems confused; zebracode workaround applied.", internal=True)
    run_index_jobs()

    assert sorted(_ids(search_tickets(me, "boiler"))) == sorted([mine.id, colleagues.id])
    assert _ids(search_tickets(stranger, "boiler")) == [foreign.id]
    assert search_tickets(me, "zebracode").total == 0  # internal note text
    assert _ids(search_tickets(agent, "zebracode")) == [mine.id]  # staff search notes
    assert search_tickets(agent, "boiler").total == 3
    # Snippets for customers never come from the internal field
    assert all(hit.matched_in != "internal_text" for hit in search_tickets(me, "boiler workaround").hits)


def test_filters_are_query_terms(make_org, make_user, make_ticket, run_index_jobs):
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    agent = make_user(Role.agent)
    low = make_ticket(customer, subject="Export timeout", priority="low", category="technical")
    high = make_ticket(customer, subject="Export timeout again", priority="high", category="data")
    ticket_service.assign_ticket(agent, high, agent.id, expected_version=high.version)
    db.session.commit()
    run_index_jobs()

    assert _ids(search_tickets(agent, "export", TicketSearchFilters(priority="low"))) == [low.id]
    assert _ids(search_tickets(agent, "export", TicketSearchFilters(category="data"))) == [high.id]
    assert _ids(search_tickets(agent, "export", TicketSearchFilters(assignee=str(agent.id)))) == [high.id]
    assert _ids(search_tickets(agent, "export", TicketSearchFilters(assignee="none"))) == [low.id]
    assert search_tickets(agent, "export", TicketSearchFilters(organization=org.id)).total == 2
    assert search_tickets(agent, "export", TicketSearchFilters(organization=org.id + 999)).total == 0


def test_bounded_queries_get_a_message(make_user):
    agent = make_user(Role.agent)
    assert "at most 200" in search_tickets(agent, "x" * 201).problem
    assert "Wildcards" in search_tickets(agent, "* ?*").problem
    assert "too common" in search_tickets(agent, "the and of").problem
    assert search_tickets(agent, "internal_text:secret").problem is None  # no field syntax: plain words
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa"
    capped = search_tickets(agent, words)
    assert capped.capped and capped.problem is None


def _any_open(actor, text="export"):
    return sorted(_ids(search_tickets(actor, text, TicketSearchFilters(status="open_any"))))


def test_the_any_open_filter_follows_each_status_change(make_org, make_user, make_ticket, run_index_jobs):
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    new = make_ticket(customer, subject="Export fails")
    waiting = make_ticket(customer, subject="Export slow")
    held = make_ticket(customer, subject="Export missing columns")
    done = make_ticket(customer, subject="Export wrong unit")
    ticket_service.change_status(agent, waiting, "pending", expected_version=waiting.version)
    ticket_service.change_status(agent, held, "on_hold", expected_version=held.version)
    ticket_service.mark_solved(agent, done, expected_version=done.version)
    db.session.commit()
    run_index_jobs()

    assert _any_open(agent) == sorted([new.id, waiting.id, held.id])
    assert _any_open(customer) == sorted([new.id, waiting.id, held.id])
    ticket_service.mark_solved(agent, waiting, expected_version=waiting.version)
    ticket_service.reopen_ticket(agent, done, expected_version=done.version)
    db.session.commit()
    run_index_jobs()
    assert _any_open(agent) == sorted([new.id, held.id, done.id])
    assert _ids(search_tickets(agent, "export", TicketSearchFilters(status="solved"))) == [waiting.id]


def test_an_index_built_before_the_any_open_field_still_takes_changes_and_filters(
    make_org, make_user, make_ticket, run_index_jobs
):
    """Between an upgrade that adds the field and the rebuild that follows it, the index jobs write the fields the
    index has, and the filter reads the four open statuses."""
    older = ticket_schema()
    older.remove("open_any")
    close_searchers()
    shutil.rmtree(index_path(TICKET_INDEX))
    index_path(TICKET_INDEX).mkdir(parents=True)
    whoosh_index.create_in(str(index_path(TICKET_INDEX)), older)

    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    open_one = make_ticket(customer, subject="Export fails")
    solved = make_ticket(customer, subject="Export slow")
    ticket_service.mark_solved(agent, solved, expected_version=solved.version)
    db.session.commit()
    run_index_jobs()

    index_jobs = select(OutboxMessage.status).where(OutboxMessage.kind == "index.ticket")
    assert set(db.session.scalars(index_jobs)) == {OutboxStatus.done}
    assert sorted(_ids(search_tickets(agent, "export"))) == sorted([open_one.id, solved.id])
    assert _any_open(agent) == [open_one.id]
    assert _any_open(customer) == [open_one.id]
