"""Database rows → Whoosh documents. The database stays the source of truth; documents are rebuilt from it.

Every document carries ``digest``, a hash of everything it was built from except the change stamp: ``search check``
builds the document again from the row and reports it stale when the digests differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from portal.models import EventKind, Status, Ticket, TicketEvent
from portal.models.kb import Article, Faq
from portal.search.analysis import PART_BREAK

LEAD_CHARS = 500
TEXT_LIMIT = 100_000  # characters of one field that are indexed (a pasted log must not bloat the index)
# How often the short part that says what a document is about goes into its combined field: a word of a ticket's
# subject or an article's title counts that many times (the weight its own field's boost gave it), so documents
# about the word rank first while a search still reads one posting list.
SUBJECT_WEIGHT = 2
TITLE_WEIGHT, TAGS_WEIGHT = 3, 2


def ticket_document(ticket: Ticket, events: Iterable[TicketEvent]) -> dict[str, Any]:
    """The ticket's searchable text. Public replies and internal notes are stored apart (snippets); customers match
    ``customer_text`` (never an internal note), staff ``customer_text`` or ``internal_text``."""
    return ticket_row_document(
        TicketRow(
            id=ticket.id,
            subject=ticket.subject,
            description=ticket.description,
            organization_id=ticket.organization_id,
            requester_id=ticket.requester_id,
            status=ticket.status.value,
            priority=ticket.priority.value,
            category=ticket.category.slug if ticket.category else None,
            assignee_id=ticket.assignee_id,
            updated_at=ticket.updated_at,
        ),
        ((event.kind, event.body) for event in events),
    )


class TicketRow(NamedTuple):
    """The columns a ticket document is built from (a rebuild reads them as plain rows, not ORM objects)."""

    id: int
    subject: str
    description: str
    organization_id: int | None
    requester_id: int
    status: str
    priority: str
    category: str | None  # the category's slug
    assignee_id: int | None
    updated_at: datetime | None


def ticket_row_document(ticket: TicketRow, events: Iterable[tuple[Any, str]]) -> dict[str, Any]:
    """``ticket_document`` from plain columns and (kind, body) pairs of the ticket's replies and notes, in order."""
    public, internal = [], []
    for kind, body in events:
        if kind == EventKind.public_reply:
            public.append(body)
        elif kind == EventKind.internal_note:
            internal.append(body)
    subject = ticket.subject
    description = ticket.description[:TEXT_LIMIT]
    public_text = "\n\n".join(public)[:TEXT_LIMIT]
    internal_text = "\n\n".join(internal)[:TEXT_LIMIT]
    return with_digest(
        {
            "id": str(ticket.id),
            "customer_text": _joined(*[subject] * SUBJECT_WEIGHT, description, public_text),
            "subject": subject,
            "description": description,
            "public_text": public_text,
            "internal_text": internal_text,
            "organization_id": _id(ticket.organization_id),
            "requester_id": _id(ticket.requester_id),
            "status": ticket.status,
            "open_any": "yes" if Status(ticket.status).is_open else "no",
            "priority": ticket.priority,
            "category": ticket.category or "none",
            "assignee_id": _id(ticket.assignee_id),
            "updated_at": stamp(ticket.updated_at),
        }
    )


def article_document(article: Article) -> dict[str, Any]:
    from portal.markdown import markdown_to_text

    body = " ".join(part for part in (article.summary, markdown_to_text(article.body_markdown)) if part)
    body = body[:TEXT_LIMIT]
    tags = " ".join(article.tag_list)
    return with_digest(
        {
            "id": kb_doc_id("article", article.id),
            "type": "article",
            "object_id": article.id,
            "content": _joined(*[article.title] * TITLE_WEIGHT, *[tags] * TAGS_WEIGHT, body),
            "title": article.title,
            "body": body,
            "lead": lead(body),
            "tags": tags,
            # Only public, published words may come back as "did you mean" (internal vocabulary must not leak).
            "spell": " ".join((article.title, tags, body)) if article.is_public else "",
            "category": article.category.slug,
            "category_name": article.category.name,
            "slug": article.slug,
            "status": article.status.value,
            "visibility": "internal" if article.internal_only else "public",
            "updated": stamp(article.updated_at),
        }
    )


def faq_document(faq: Faq) -> dict[str, Any]:
    from portal.markdown import markdown_to_text

    answer = markdown_to_text(faq.answer_markdown)[:TEXT_LIMIT]
    return with_digest(
        {
            "id": kb_doc_id("faq", faq.id),
            "type": "faq",
            "object_id": faq.id,
            "content": _joined(*[faq.question] * TITLE_WEIGHT, answer),
            "title": faq.question,
            "body": answer,
            "lead": lead(answer),
            "tags": "",
            "spell": " ".join((faq.question, answer)) if faq.is_published else "",
            "category": faq.category.slug,
            "category_name": faq.category.name,
            "slug": "",
            "status": "published" if faq.is_published else "draft",
            "visibility": "public",
            "updated": stamp(faq.updated_at),
        }
    )


STAMP_FIELDS = frozenset({"updated", "updated_at"})


def content_digest(doc: dict[str, Any]) -> str:
    """A hash of what the document says (every field but the change stamp and the digest itself)."""
    content = {k: v for k, v in doc.items() if k not in STAMP_FIELDS and k != "digest"}
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def with_digest(doc: dict[str, Any]) -> dict[str, Any]:
    doc["digest"] = content_digest(doc)
    return doc


def _joined(*parts: str) -> str:
    """Parts of one combined text field, with a break between them (no phrase matches across two parts)."""
    return f"\n{PART_BREAK}\n".join(part for part in parts if part)


def lead(text: str, limit: int = LEAD_CHARS) -> str:
    """The first ``limit`` characters of ``text``, cut at a word boundary."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


def kb_doc_id(kind: str, object_id: int) -> str:
    return f"{kind}:{object_id}"


def stamp(value: datetime | None) -> int:
    """A UTC instant as epoch microseconds (compared by ``search check`` and the out-of-order guard)."""
    return round(value.timestamp() * 1_000_000) if value else 0


def _id(value: int | None) -> str:
    return str(value) if value is not None else "none"
