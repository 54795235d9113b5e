"""Search index handlers (outbox kinds ``index.*``, queue ``index``, served by exactly one worker).

Payloads: index.ticket {ticket_id}; index.article {article_id}; index.faq {faq_id}. Each handler reloads the row and
updates or deletes its one document, so running a job twice (a retry, a killed worker) gives the same index.
"""

from __future__ import annotations

from typing import Any

from portal.search import indexing
from workers.registry import handler


@handler("index.ticket")
def index_ticket(payload: dict[str, Any], message_id: int) -> None:
    indexing.index_ticket(int(payload["ticket_id"]))


@handler("index.article")
def index_article(payload: dict[str, Any], message_id: int) -> None:
    indexing.index_article(int(payload["article_id"]))


@handler("index.faq")
def index_faq(payload: dict[str, Any], message_id: int) -> None:
    indexing.index_faq(int(payload["faq_id"]))
