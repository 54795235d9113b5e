"""The two Whoosh schemas: KB content (articles and FAQs) and tickets.

Visibility is part of every document so that access rules are terms of the query itself: KB documents carry
``status`` and ``visibility``; tickets carry ``organization_id`` and ``requester_id``.

A search matches one combined text field (a common word is one posting list, not an OR over several fields):
tickets have ``customer_text`` (subject, description and public replies), which customers search; staff search it
and ``internal_text`` (the internal notes, indexed apart so that no text is analyzed and posted twice: a rebuild of
a million tickets writes each word once; a staff word is an OR of two lists, the second short). KB documents have
``content`` (title, tags, body). The part that says what a document is about (a ticket's subject, an article's
title and tags) is written into the combined field more than once, so it weighs more (see ``documents``). The text
shown in snippets is stored per part, so a customer's snippet is never cut from internal notes.

``digest`` is a hash of each document's content (``search check`` compares it with the database); ``updated`` /
``updated_at`` the row's last change (the out-of-order guard of the index jobs).
"""

from __future__ import annotations

from math import log

from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema
from whoosh.scoring import BM25F, WeightingModel

from portal.search.analysis import spelling_analyzer, text_analyzer

KB_INDEX = "kb"
TICKET_INDEX = "tickets"


KB_TEXT = "content"
KB_SNIPPET_FIELDS = ("body", "title")
# Suggestions while typing search the start of each document only: whole-body posting lists make a many-word OR
# query several times slower (bench/bench_search.py), and the lead says what a document is about.
KB_SUGGEST_FIELDS = {"title": 4.0, "tags": 2.0, "lead": 1.5}
KB_SUGGEST_SNIPPET_FIELDS = ("lead", "title")

TICKET_CUSTOMER_TEXT = "customer_text"
TICKET_INTERNAL_TEXT = "internal_text"
TICKET_STAFF_TEXT = (TICKET_CUSTOMER_TEXT, TICKET_INTERNAL_TEXT)  # what a staff search matches (either field)
TICKET_PUBLIC_FIELDS = ("subject", "description", "public_text")  # stored parts a customer may be shown
TICKET_STAFF_FIELDS = (*TICKET_PUBLIC_FIELDS, "internal_text")


def kb_schema() -> Schema:
    text = text_analyzer()
    return Schema(
        id=ID(unique=True, stored=True),  # "article:12", "faq:3"
        type=ID(stored=True),  # article | faq
        object_id=STORED(),
        content=TEXT(analyzer=text),  # title, tags and body: what a search matches
        title=TEXT(analyzer=text, stored=True),
        tags=TEXT(analyzer=text, stored=True),
        lead=TEXT(analyzer=text, stored=True),  # summary + the first few hundred characters of the body
        body=STORED(),  # Markdown stripped to plain text (snippets)
        spell=TEXT(analyzer=spelling_analyzer(), phrase=False),  # unstemmed words for "did you mean"
        category=ID(stored=True),  # KB category slug
        category_name=STORED(),
        slug=STORED(),
        status=ID(stored=True),  # draft | published | archived
        visibility=ID(stored=True),  # public | internal
        updated=STORED(),  # epoch microseconds of the row indexed
        digest=STORED(),  # content hash (`search check`)
    )


def ticket_schema() -> Schema:
    text = text_analyzer()
    return Schema(
        id=ID(unique=True, stored=True),  # the ticket id as text
        customer_text=TEXT(analyzer=text),  # subject, description, public replies: customer and staff queries
        subject=STORED(),
        description=STORED(),
        public_text=STORED(),  # public replies
        internal_text=TEXT(analyzer=text, stored=True),  # internal notes: staff queries and staff snippets only
        organization_id=ID(stored=True),  # "none" when the requester has no organization
        requester_id=ID(stored=True),
        status=ID(stored=True),
        # "yes" while the ticket is open in any way (new, open, pending, on hold), else "no": the "any open" filter
        # reads one posting list, not the union of four statuses' lists (hundreds of thousands of postings each)
        open_any=ID(),
        priority=ID(stored=True),
        category=ID(stored=True),  # ticket category slug or "none"
        assignee_id=ID(stored=True),  # user id or "none"
        updated_at=NUMERIC(int, bits=64, stored=True, sortable=True),  # epoch microseconds (sorting)
        digest=STORED(),  # content hash (`search check`)
    )


SCHEMAS = {KB_INDEX: kb_schema, TICKET_INDEX: ticket_schema}


def weighting(name: str) -> WeightingModel:
    """How hits are ranked. KB: BM25F (a short FAQ that answers the question outranks a long guide that mentions
    it). Tickets: BM25F without length normalization on the combined fields (``B=0``): how often a ticket says the
    word, its subject counting twice. Whoosh can then bound the score of a whole block of postings and skip the
    blocks that cannot reach the top hits: a common word reads a fraction of its tickets (with length
    normalization any short ticket might, so nearly every match was scored)."""
    if name == TICKET_INDEX:
        return BM25F(**{f"{field}_B": 0.0 for field in TICKET_STAFF_TEXT})
    return BM25F()


class StaffWeighting(BM25F):
    """The tickets' weighting for a staff search, which matches a word in ``customer_text`` or ``internal_text``:
    both fields score with one IDF, that of the word in either (the sum of their document frequencies), as the
    single staff field of earlier releases did. With each field's own IDF a word that is rare in internal notes
    (most tickets have none) would outrank the tickets whose subject says it. Customer searches keep the index's
    default weighting: nothing about internal notes, not even how common a word is in them, shapes their ranking."""

    def __init__(self) -> None:
        super().__init__(**{f"{field}_B": 0.0 for field in TICKET_STAFF_TEXT})

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf)
        if fieldname in TICKET_STAFF_TEXT and hasattr(scorer, "idf"):
            parent = searcher.get_parent()
            count = parent.doc_count_all()
            frequency = min(count, sum(parent.doc_frequency(name, text) for name in TICKET_STAFF_TEXT))
            scorer.idf = log(count / (frequency + 1)) + 1
        return scorer
