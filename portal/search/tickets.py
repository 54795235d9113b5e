"""Ticket search. Staff search subject, description, public replies and internal notes (one combined field);
customers search their organization's (or, without one, their own) tickets and only public text (a combined field
without internal notes). The access rule is a term of the Whoosh query itself, so a hit the searcher may not read
is never produced, counted or highlighted; customer snippets come from the public parts only."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import Select
from sqlalchemy.orm import joinedload
from whoosh import query as q
from whoosh.fields import Schema

from portal.extensions import db
from portal.models import OPEN_STATUSES, Priority, Status, Ticket, User
from portal.params import parse_id
from portal.search import highlight
from portal.search.query import (
    MAX_PAGE,
    Paged,
    ParsedQuery,
    QueryProblem,
    build,
    count_up_to,
    parse,
    top_hits,
)
from portal.search.schema import (
    TICKET_CUSTOMER_TEXT,
    TICKET_INDEX,
    TICKET_PUBLIC_FIELDS,
    TICKET_STAFF_FIELDS,
    TICKET_STAFF_TEXT,
    StaffWeighting,
)
from portal.search.store import searcher

_STAFF_WEIGHTING = StaffWeighting()


class StaffScored(q.WrappingQuery):
    """A staff search's text query, scored with ``StaffWeighting`` (one IDF for public text and internal notes)."""

    def matcher(self, searcher, context=None):
        if context is not None:
            context = context.set(weighting=_STAFF_WEIGHTING)
        return self.child.matcher(searcher, context)


PER_PAGE = 20


@dataclass
class TicketSearchFilters:
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    organization: int | None = None
    assignee: str | None = None  # a user id or "none"
    sort: str = "relevance"  # or "updated"

    @classmethod
    def from_args(cls, args) -> TicketSearchFilters:
        status = args.get("status") or None
        priority = args.get("priority") or None
        organization = (args.get("organization") or "").strip()
        assignee = (args.get("assignee") or "").strip()
        return cls(
            status=status if status in {s.value for s in Status} | {"open_any"} else None,
            priority=priority if priority in {p.value for p in Priority} else None,
            category=(args.get("category") or "").strip()[:50] or None,
            organization=parse_id(organization),
            assignee=assignee if assignee == "none" or parse_id(assignee) else None,
            sort="updated" if args.get("sort") == "updated" else "relevance",
        )


@dataclass
class TicketHit:
    ticket_id: int
    snippet: Markup
    matched_in: str  # subject, description, public_text or internal_text


@dataclass
class TicketResults(Paged):
    query: str
    hits: list[TicketHit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    problem: str | None = None
    capped: bool = False
    total_is_estimate: bool = False  # True: ``total`` is a lower bound (``more_than``); the pager shows no page count
    more_than: bool = False  # more than ``total`` tickets match (shown as "More than N")


def access_query(actor: User) -> q.Query | None:
    """The terms that limit a search to what ``actor`` may read (the same rule as the services' ticket access:
    staff everything, customers their organization's tickets and their own); None for staff."""
    if actor.is_staff:
        return None
    if not actor.is_active:
        return q.NullQuery
    own = q.Term("requester_id", str(actor.id))
    if actor.organization_id is not None:
        return q.Or([q.Term("organization_id", str(actor.organization_id)), own])
    return own


def filter_query(filters: TicketSearchFilters, schema: Schema | None = None) -> list[q.Query]:
    """The filters' terms. ``schema``: the index's own; one built before the ``open_any`` field (until the rebuild
    that follows the upgrade) is searched by the four statuses instead."""
    terms: list[q.Query] = []
    if filters.status == "open_any":
        if schema is None or "open_any" in schema:
            terms.append(q.Term("open_any", "yes"))
        else:
            terms.append(q.Or([q.Term("status", s.value) for s in OPEN_STATUSES]))
    elif filters.status:
        terms.append(q.Term("status", filters.status))
    if filters.priority:
        terms.append(q.Term("priority", filters.priority))
    if filters.category:
        terms.append(q.Term("category", filters.category))
    if filters.organization:
        terms.append(q.Term("organization_id", str(filters.organization)))
    if filters.assignee:
        terms.append(q.Term("assignee_id", filters.assignee))
    return terms


def ticket_query(
    actor: User, parsed: ParsedQuery, filters: TicketSearchFilters, schema: Schema | None = None
) -> q.Query:
    """The Whoosh query of a ticket search by ``actor``: the words (staff: in public text or internal notes,
    customers: in public text only), the access rule and the filters (``schema``: see ``filter_query``)."""
    text_fields = TICKET_STAFF_TEXT if actor.is_staff else TICKET_CUSTOMER_TEXT
    matched = build(parsed, text_fields, match_all=True)
    parts = [StaffScored(matched) if actor.is_staff else matched]
    access = access_query(actor)
    if access is not None:
        parts.append(access)
    if not actor.is_staff:
        filters.organization = filters.assignee = None  # customers filter by status only
    parts.extend(filter_query(filters, schema))
    return q.And(parts)


def search_tickets(
    actor: User, text: str, filters: TicketSearchFilters | None = None, page: int = 1, per_page: int = PER_PAGE
) -> TicketResults:
    """One page of the tickets ``actor`` may read that match ``text``, best first (or most recently updated)."""
    filters = filters or TicketSearchFilters()
    page = max(1, min(page, MAX_PAGE))
    results = TicketResults(query=(text or "").strip(), page=page, per_page=per_page)
    try:
        parsed = parse(text)
    except QueryProblem as problem:
        results.problem = problem.message
        return results
    results.capped = parsed.capped
    shown = TICKET_STAFF_FIELDS if actor.is_staff else TICKET_PUBLIC_FIELDS
    words = frozenset(parsed.terms)
    sort = {"sortedby": "updated_at", "reverse": True} if filters.sort == "updated" else {}
    wanted = page * per_page
    with searcher(TICKET_INDEX) as s:
        whoosh_query = ticket_query(actor, parsed, filters, s.schema)
        found = top_hits(s, whoosh_query, wanted, **sort)
        _count(results, s, whoosh_query, found.scored_length(), wanted)
        for hit in found[(page - 1) * per_page : wanted]:
            results.hits.append(_hit(hit, shown, words))
    return results


COUNT_PAGES_AHEAD = 4  # pages past the one shown whose matches are counted exactly


def _count(results: TicketResults, s, whoosh_query: q.Query, scored: int, wanted: int) -> None:
    """The total shown, never a guess: exact when the matches end within ``COUNT_PAGES_AHEAD`` pages after the one
    shown (or the last page that can be opened, ``MAX_PAGE``), else "more than" the matches up to there. A search
    scores only the hits up to the page shown; when they filled the page the rest are counted unscored, one past
    the bound at most, so the count costs a bounded walk however common the word is (the pager then offers the
    pages up to the bound; each further page moves it)."""
    if scored < wanted:
        results.total = scored
        return
    bound = min(MAX_PAGE, results.page + COUNT_PAGES_AHEAD) * results.per_page
    counted = count_up_to(s, whoosh_query, bound + 1)
    if counted > bound:
        results.total, results.more_than, results.total_is_estimate = bound, True, True
    else:
        results.total = counted


def _hit(hit, fields: tuple[str, ...], words: frozenset[str]) -> TicketHit:
    """The snippet from the first part (in ``fields`` order) that holds a searched word."""
    found = highlight.first_marked(hit, fields, words)
    if found is not None:
        return TicketHit(int(hit["id"]), found[1], found[0])
    return TicketHit(int(hit["id"]), highlight.snippet(hit, [], words, "description"), "subject")


def load_hits(results: TicketResults, readable: Select) -> list[tuple]:
    """(ticket, hit) pairs in result order. ``readable`` is the caller's query of the tickets the searcher may read
    (the access rule of the services); loading through it is belt and braces, the Whoosh query already restricted
    the hits."""
    ids = [hit.ticket_id for hit in results.hits]
    if not ids:
        return []
    stmt = readable.where(Ticket.id.in_(ids)).options(
        joinedload(Ticket.requester), joinedload(Ticket.assignee), joinedload(Ticket.organization)
    )
    tickets = {t.id: t for t in db.session.scalars(stmt).unique()}
    return [(tickets[hit.ticket_id], hit) for hit in results.hits if hit.ticket_id in tickets]
