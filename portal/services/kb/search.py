"""KB search and suggestions for a reader: what they may see (internal articles for staff only) is decided here,
the query runs in ``portal.search.kb``, and every search is logged with its source for the reports (in the search
log buffer: no database write while the reader waits).

A search typed by a person (the KB search page, the API's search) is logged as ``SearchSource.kb`` or
``SearchSource.api``; text sent for suggestions (the ticket form, the API's suggest) as ``SearchSource.suggest``.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.models import User
from portal.models.kb import SearchSource
from portal.search.kb import KbResults, search_kb, suggest_kb
from portal.services.kb.analytics import log_search
from portal.services.kb.permissions import is_staff

TYPED = frozenset({SearchSource.kb, SearchSource.api})


@dataclass
class LoggedResults:
    results: KbResults
    log_id: str | None  # the search log entry's uuid result links refer to (None when the search was not logged)


def search(
    actor: User | None,
    text: str,
    *,
    source: SearchSource = SearchSource.kb,
    category: str | None = None,
    page: int = 1,
    log_every_page: bool = False,
) -> LoggedResults:
    """One page of published articles and FAQs matching ``text`` that ``actor`` may read. A search that could be
    run is logged on its first page (or on every page with ``log_every_page``: API clients follow links of any
    page)."""
    if source not in TYPED:
        raise ValueError(f"{source} is not a typed search")
    results = search_kb(text, staff=is_staff(actor), category=category, page=page)
    log_id = None
    if results.problem is None and (results.page == 1 or log_every_page):
        log_id = log_search(source, results.query, results.total, actor)
    return LoggedResults(results, log_id)


def suggest(actor: User | None, text: str) -> LoggedResults:
    """The best few published articles and FAQs for free text (a ticket's subject and description), logged as a
    suggestion look-up."""
    results = suggest_kb(text, staff=is_staff(actor))
    log_id = log_search(SearchSource.suggest, results.query, results.total, actor) if results.query else None
    return LoggedResults(results, log_id)
