"""What readers did with KB search: the search log (with its source: typed on the KB search page or in the API, or
a suggestion look-up while a ticket is written), followed results, deflections ("This solved my problem") and the
suggestions shown while a ticket was written. Result links carry a signed (search, result) token.

Searches and followed results are read requests: they are noted in the search log buffer
(``search_log_buffer``, drained into the database by a job), never written to the database by the request; a search
is named by the uuid its entry gets at request time. Deflections and shown suggestions come with a POST and are
written at once. Writers flush, never commit (the request commits).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from portal.extensions import db
from portal.models import Ticket, User, utcnow
from portal.models.kb import Article, Deflection, Faq, SearchSource, TicketSuggestion
from portal.search.query import analyze
from portal.services.kb import search_log_buffer

MAX_SHOWN_SUGGESTIONS = 20
_DOC_RE = re.compile(r"^(article|faq):([0-9]{1,9})$")  # ASCII digits, inside the database's integer range
_CLICK_SALT = "kb-search-click"


def normalize_query(text: str) -> str:
    """Group spellings of one question: stems of the meaningful words, in order, without repeats."""
    terms = list(dict.fromkeys(analyze((text or "")[:500])))
    return " ".join(terms)[:500] if terms else " ".join((text or "").lower().split())[:500]


def log_search(
    source: SearchSource, text: str, result_count: int, user: User | None, *, now: datetime | None = None
) -> str:
    """Note a search in the search log buffer; returns its entry's uuid (what result links name it by)."""
    entry = search_log_buffer.search_entry(
        source, (text or "")[:500], normalize_query(text), result_count, _user_id(user), now or utcnow()
    )
    search_log_buffer.record(entry)
    return entry["id"]


def record_click(search: str | int, doc: Article | Faq, *, now: datetime | None = None) -> None:
    """A result (article or FAQ) of ``search`` (its uuid; a row id in links made before the buffer) was followed;
    noted in the buffer, the drain attributes it: the first click counts."""
    search_log_buffer.record(search_log_buffer.click_entry(search, doc, now or utcnow()))


def search_ref(value) -> str | int | None:
    """A search named in a link: a search log entry's uuid, or a row id (links made before the buffer); else None."""
    text = str(value or "").strip()
    if text.isascii() and text.isdigit() and 0 < len(text) <= 9:
        return int(text)
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None


def parse_doc_id(value: str) -> tuple[str, int] | None:
    """``("article", 12)`` for ``"article:12"`` (the search documents' ids), else None."""
    match = _DOC_RE.match((value or "").strip())
    return (match.group(1), int(match.group(2))) if match else None


def document(kind: str, object_id: int) -> Article | Faq | None:
    return db.session.get(Article if kind == "article" else Faq, object_id)


def suggestable(doc_id: str) -> Article | Faq | None:
    """The published, public article or FAQ named ``doc_id`` (what a customer may be shown), else None."""
    parsed = parse_doc_id(doc_id)
    if parsed is None:
        return None
    doc = document(*parsed)
    if isinstance(doc, Article):
        return doc if doc.is_public else None
    return doc if doc is not None and doc.is_published else None


def record_deflection(user: User | None, doc: Article | Faq, text: str) -> Deflection:
    deflection = Deflection(
        article_id=doc.id if isinstance(doc, Article) else None,
        faq_id=doc.id if isinstance(doc, Faq) else None,
        user_id=_user_id(user),
        query=(text or "")[:2000],
    )
    db.session.add(deflection)
    db.session.flush()
    return deflection


def record_ticket_suggestions(ticket: Ticket, doc_ids: Iterable[str]) -> int:
    """Remember which articles/FAQs were suggested while ``ticket`` was written (unknown ids are ignored)."""
    added = 0
    for doc_id in list(dict.fromkeys(doc_ids))[:MAX_SHOWN_SUGGESTIONS]:
        doc = suggestable(doc_id)
        if doc is None:
            continue
        db.session.add(
            TicketSuggestion(
                ticket_id=ticket.id,
                article_id=doc.id if isinstance(doc, Article) else None,
                faq_id=doc.id if isinstance(doc, Faq) else None,
            )
        )
        added += 1
    db.session.flush()
    return added


def click_token(log_id: str | int, doc_id: str) -> str:
    """A signed (search, result) pair for the result link, so clicks cannot be forged for other searches."""
    return URLSafeSerializer(current_app.secret_key, salt=_CLICK_SALT).dumps([log_id, doc_id])


def read_click_token(token: str) -> tuple[str | int, str] | None:
    try:
        log_id, doc_id = URLSafeSerializer(current_app.secret_key, salt=_CLICK_SALT).loads(token or "")
    except (BadSignature, ValueError, TypeError):
        return None
    search = search_ref(log_id) if isinstance(log_id, str | int) and not isinstance(log_id, bool) else None
    if search is None or parse_doc_id(str(doc_id)) is None:
        return None
    return search, str(doc_id)


def follow_click(token: str) -> Article | Faq | None:
    """The result a signed click link names, with the click recorded on its search; None for a bad link or a
    result that no longer exists."""
    clicked = read_click_token(token)
    if clicked is None:
        return None
    log_id, doc_id = clicked
    doc = document(*parse_doc_id(doc_id))
    if doc is not None:
        record_click(log_id, doc)
    return doc


def _user_id(user: User | None) -> int | None:
    return user.id if user is not None and getattr(user, "is_authenticated", False) else None
