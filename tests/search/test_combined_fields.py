"""Searches match one combined text field per audience (staff, customers; KB content): the same documents as
matching the words in any of the separate parts, phrases never across two parts, internal notes never in what a
customer's query or snippet can reach; and a schema change makes ``search rebuild`` start a fresh index."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select
from whoosh import index as whoosh_index
from whoosh import query as q
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from portal.extensions import db
from portal.models import EventKind, Role, Ticket, TicketEvent, User
from portal.search.analysis import text_analyzer
from portal.search.kb import search_kb
from portal.search.query import parse
from portal.search.schema import TICKET_INDEX, ticket_schema
from portal.search.store import close_searchers, index_path, open_index, same_schema, schema_is_current, searcher
from portal.search.tickets import search_tickets
from portal.services import tickets as ticket_service

_analyzer = text_analyzer()

TICKETS = [
    # subject, description, public reply, internal note
    ("Export to Excel fails", "The xlsx export stops at 99%.", "Use the CSV export meanwhile.", ""),
    ("Dashboard slow", "Loading five years takes long.", "", "Customer exports nightly; export job overlaps."),
    ("SSO_SAML error after rotation", "Users see SSO_SAML_ASSERTION_INVALID.", "Upload the new certificate.", ""),
    ("Scope 2 electricity totals", "Market-based totals differ.", "Choose the market method.", "Audit trail checked."),
    ("Audit trail access", "Our auditor needs read access.", "Granted read-only access.", ""),
    ("Importing meter readings", "The import of kWh values fails.", "", "Possible validator regression."),
    ("Question about the validator", "", "The validator accepts kWh and MWh.", "Escalated to engineering."),
    ("Quarterly close", "We close the quarter on Friday.", "Exports are ready.", "Walrus ledger mismatch noted."),
]
QUERIES = [
    "export",
    "exporting",
    "exports nightly",
    "validator",
    "kwh",
    "saml",
    "SSO_SAML",
    "audit trail",
    "market totals",
    "walrus ledger",
    "export -csv",
    "close quarter",
    "certificate upload",
    "engineering",
]


def _terms(text: str) -> set[str]:
    return {t.text for t in _analyzer(text or "")}


def _expected(parts: list[str], query: str) -> bool:
    """Every word of the query in some part, no excluded word in any (what an OR over separate fields matched)."""
    parsed = parse(query)
    words = set().union(*(_terms(part) for part in parts))
    return all(set(group) <= words for group in parsed.groups) and not (set(parsed.excluded) & words)


@pytest.fixture
def desk(make_org, make_user, make_ticket, run_index_jobs):
    org = make_org()
    customer = make_user(Role.customer, organization=org)
    agent = make_user(Role.agent)
    rows = []
    for subject, description, public, internal in TICKETS:
        ticket = make_ticket(customer, subject=subject, description=description or "-")
        if public:
            ticket_service.reply_to_ticket(agent, ticket, public)
        if internal:
            ticket_service.reply_to_ticket(agent, ticket, internal, internal=True)
        rows.append(ticket)
    db.session.commit()
    run_index_jobs()
    return customer, agent, rows


def _parts(ticket: Ticket, *, internal: bool) -> list[str]:
    kinds = (EventKind.public_reply, EventKind.internal_note) if internal else (EventKind.public_reply,)
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
    return [ticket.subject, ticket.description] + [e.body for e in events if e.kind in kinds]


def test_the_combined_fields_match_what_the_separate_parts_matched(desk):
    customer, agent, tickets = desk
    for query in QUERIES:
        staff = {t.id for t in tickets if _expected(_parts(t, internal=True), query)}
        public = {t.id for t in tickets if _expected(_parts(t, internal=False), query)}
        assert {h.ticket_id for h in search_tickets(agent, query, per_page=50).hits} == staff, query
        assert {h.ticket_id for h in search_tickets(customer, query, per_page=50).hits} == public, query
    assert search_tickets(agent, "walrus").total == 1 and search_tickets(customer, "walrus").total == 0


def test_a_subject_match_ranks_first_and_phrases_stay_within_one_part(desk):
    customer, agent, tickets = desk
    ranked = search_tickets(agent, "export").hits
    assert ranked[0].ticket_id == tickets[0].id and ranked[0].matched_in == "subject"
    assert {h.ticket_id for h in search_tickets(agent, '"audit trail"').hits} == {tickets[3].id, tickets[4].id}
    # the end of one part and the start of the next are no phrase ("... fails" / "The xlsx ...")
    assert search_tickets(agent, '"fails xlsx"').total == 0
    assert search_tickets(agent, '"excel fails"').total == 1
    # the subject is written twice into the combined field: its last and first words are no phrase either
    assert search_tickets(agent, '"fails export"').total == 0


def test_internal_notes_never_reach_a_customer_visible_field(desk):
    customer, agent, tickets = desk
    with searcher(TICKET_INDEX) as s:

        def matching(field: str, word: str) -> int:
            (term,) = _terms(word)
            return len(s.search(q.Term(field, term), limit=None))

        # "Walrus ledger mismatch noted." and "Escalated to engineering." are internal notes
        assert matching("internal_text", "walrus") == 1 and matching("internal_text", "engineering") == 1
        assert matching("customer_text", "walrus") == 0 and matching("customer_text", "engineering") == 0
        for fields in s.all_stored_fields():
            for name in ("subject", "description", "public_text"):
                assert "Walrus" not in (fields.get(name) or "") and "engineering" not in (fields.get(name) or "")
    assert all(h.matched_in != "internal_text" for h in search_tickets(customer, "validator").hits)
    staff_hit = search_tickets(agent, "regression").hits[0]
    assert staff_hit.matched_in == "internal_text" and "<mark>regression</mark>" in staff_hit.snippet


def test_kb_content_field_matches_title_tags_or_body(make_article, make_faq, run_index_jobs):
    title = make_article("Walrus gateway setup", "Connect the meter.", tags="iot")
    tagged = make_article("Meter basics", "Read the meter.", tags="walrus, sensors")
    body = make_article("Sensor drift", "A walrus sensor drifts after a firmware update.")
    faq = make_faq("Can walrus meters export?", "Yes, as CSV.")
    internal = make_article("Walrus runbook", "Escalate walrus outages.", internal=True)
    make_article("Walrus draft", "Not yet.", status="draft")
    run_index_jobs()
    public = {h.doc_id for h in search_kb("walrus", per_page=50).hits}
    assert public == {f"article:{a.id}" for a in (title, tagged, body)} | {f"faq:{faq.id}"}
    staff = search_kb("walrus", staff=True, per_page=50)
    assert {h.doc_id for h in staff.hits} == public | {f"article:{internal.id}"}
    assert staff.hits[0].title in ("Walrus gateway setup", "Walrus runbook")  # title matches first
    assert "<mark>firmware</mark>" in search_kb("firmware").hits[0].snippet
    assert "<mark>walrus</mark>" in str(search_kb("walrus", staff=True).hits[0].snippet).lower()
    assert search_kb('"gateway setup"').total == 1 and search_kb('"setup connect"').total == 0


def test_a_search_schema_change_makes_rebuild_start_a_fresh_index(make_org, make_user, make_ticket, runner):
    customer = make_user(Role.customer, organization=make_org())
    agent_id = make_user(Role.agent).id
    ticket_id = make_ticket(customer, subject="Penguin sensor offline", description="No values since Monday.").id
    ticket = db.session.get(Ticket, ticket_id)
    close_searchers()
    path = index_path(TICKET_INDEX)
    # an index written by an earlier release: separate text fields, no combined field, no content digest
    old = Schema(
        id=ID(unique=True, stored=True),
        subject=TEXT(analyzer=text_analyzer(), stored=True),
        description=TEXT(analyzer=text_analyzer(), stored=True),
        updated_at=NUMERIC(int, bits=64, stored=True, sortable=True),
        organization_id=STORED(),
    )
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    writer = whoosh_index.create_in(str(path), old).writer()
    writer.add_document(id=str(ticket.id), subject=ticket.subject, description=ticket.description, updated_at=1)
    writer.commit()
    assert not schema_is_current(open_index(TICKET_INDEX), TICKET_INDEX)
    checked = runner.invoke(args=["search", "check"])
    assert checked.exit_code == 1 and "the tickets index was built with another release's fields" in checked.output

    result = runner.invoke(args=["search", "rebuild", "--only", "tickets"])
    assert result.exit_code == 0, result.output
    ix = open_index(TICKET_INDEX)
    assert schema_is_current(ix, TICKET_INDEX) and set(ix.schema.names()) == set(ticket_schema().names())
    agent = db.session.get(User, agent_id)  # the rebuild read every row in batches, releasing them
    assert [h.ticket_id for h in search_tickets(agent, "penguin").hits] == [ticket_id]
    assert runner.invoke(args=["search", "check"]).exit_code == 0


def test_changed_field_settings_count_as_a_schema_change():
    assert same_schema(ticket_schema(), ticket_schema())
    indexed = ticket_schema()
    indexed.remove("internal_text")
    indexed.add("internal_text", STORED())  # stored only instead of indexed and stored
    assert not same_schema(indexed, ticket_schema())
    no_positions = ticket_schema()
    no_positions.remove("customer_text")
    no_positions.add("customer_text", TEXT(analyzer=text_analyzer(), phrase=False))
    assert not same_schema(no_positions, ticket_schema())
