"""The two Whoosh schemas: KB content (articles and FAQs) and tickets (DESIGN.md §6).

Visibility is part of every document so that access rules are terms of the query itself: KB documents carry
``status`` and ``visibility``; tickets carry ``organization_id`` and ``requester_id``, and internal notes live in their
own field (``internal_text``) that customer queries never name.
"""

from __future__ import annotations

from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from portal.search.analysis import spelling_analyzer, text_analyzer

KB_INDEX = "kb"
TICKET_INDEX = "tickets"

KB_TEXT_FIELDS = {"title": 4.0, "tags": 2.0, "body": 1.0}
# Suggestions while typing search the start of each document only: whole-body posting lists make a many-word OR
# query several times slower (bench/bench_search.py), and the lead says what a document is about.
KB_SUGGEST_FIELDS = {"title": 4.0, "tags": 2.0, "lead": 1.5}
TICKET_PUBLIC_FIELDS = {"subject": 3.0, "description": 1.5, "public_text": 1.0}
TICKET_STAFF_FIELDS = {**TICKET_PUBLIC_FIELDS, "internal_text": 1.0}


def kb_schema() -> Schema:
    text = text_analyzer()
    return Schema(
        id=ID(unique=True, stored=True),  # "article:12", "faq:3"
        type=ID(stored=True),  # article | faq
        object_id=STORED(),
        title=TEXT(analyzer=text, stored=True),
        body=TEXT(analyzer=text, stored=True),  # Markdown stripped to plain text
        lead=TEXT(analyzer=text, stored=True),  # summary + the first few hundred characters of the body
        tags=TEXT(analyzer=text, stored=True),
        spell=TEXT(analyzer=spelling_analyzer(), phrase=False),  # unstemmed words for "did you mean"
        category=ID(stored=True),  # KB category slug
        category_name=STORED(),
        slug=STORED(),
        status=ID(stored=True),  # draft | published | archived
        visibility=ID(stored=True),  # public | internal
        updated=STORED(),  # epoch microseconds of the row indexed (`search check`)
    )


def ticket_schema() -> Schema:
    text = text_analyzer()
    return Schema(
        id=ID(unique=True, stored=True),  # the ticket id as text
        subject=TEXT(analyzer=text, stored=True),
        description=TEXT(analyzer=text, stored=True),
        public_text=TEXT(analyzer=text, stored=True),  # public replies
        internal_text=TEXT(analyzer=text, stored=True),  # internal notes: staff queries only
        organization_id=ID(stored=True),  # "none" when the requester has no organization
        requester_id=ID(stored=True),
        status=ID(stored=True),
        priority=ID(stored=True),
        category=ID(stored=True),  # ticket category slug or "none"
        assignee_id=ID(stored=True),  # user id or "none"
        updated_at=NUMERIC(int, bits=64, stored=True, sortable=True),  # epoch microseconds (sorting, `search check`)
    )


SCHEMAS = {KB_INDEX: kb_schema, TICKET_INDEX: ticket_schema}
