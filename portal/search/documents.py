"""Database rows → Whoosh documents. The database stays the source of truth; documents are rebuilt from it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from portal.models import EventKind, Ticket, TicketEvent
from portal.models.kb import Article, Faq

LEAD_CHARS = 500
TEXT_LIMIT = 100_000  # characters of one field that are indexed (a pasted log must not bloat the index)


def ticket_document(ticket: Ticket, events: Iterable[TicketEvent]) -> dict[str, Any]:
    """The ticket's searchable text: public replies and internal notes are kept in separate fields."""
    public, internal = [], []
    for event in events:
        if event.kind is EventKind.public_reply:
            public.append(event.body)
        elif event.kind is EventKind.internal_note:
            internal.append(event.body)
    return {
        "id": str(ticket.id),
        "subject": ticket.subject,
        "description": ticket.description[:TEXT_LIMIT],
        "public_text": "\n\n".join(public)[:TEXT_LIMIT],
        "internal_text": "\n\n".join(internal)[:TEXT_LIMIT],
        "organization_id": _id(ticket.organization_id),
        "requester_id": _id(ticket.requester_id),
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "category": ticket.category.slug if ticket.category else "none",
        "assignee_id": _id(ticket.assignee_id),
        "updated_at": stamp(ticket.updated_at),
    }


def article_document(article: Article) -> dict[str, Any]:
    from portal.markdown import markdown_to_text

    body = " ".join(part for part in (article.summary, markdown_to_text(article.body_markdown)) if part)
    tags = " ".join(article.tag_list)
    return {
        "id": kb_doc_id("article", article.id),
        "type": "article",
        "object_id": article.id,
        "title": article.title,
        "body": body[:TEXT_LIMIT],
        "lead": lead(body),
        "tags": tags,
        # Only public, published words may come back as "did you mean" (internal vocabulary must not leak).
        "spell": " ".join((article.title, tags, body[:TEXT_LIMIT])) if article.is_public else "",
        "category": article.category.slug,
        "category_name": article.category.name,
        "slug": article.slug,
        "status": article.status.value,
        "visibility": "internal" if article.internal_only else "public",
        "updated": stamp(article.updated_at),
    }


def faq_document(faq: Faq) -> dict[str, Any]:
    from portal.markdown import markdown_to_text

    answer = markdown_to_text(faq.answer_markdown)[:TEXT_LIMIT]
    return {
        "id": kb_doc_id("faq", faq.id),
        "type": "faq",
        "object_id": faq.id,
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
