"""KB search page ``/kb/search?q=&category=&page=`` and the result links that record clicks (issue 4 part B).

Anonymous visitors and customers search public published content; staff also internal articles. The rule is part
of the Whoosh query (``portal.search.kb``)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import page_number
from portal.extensions import htmx
from portal.models.kb import SearchSource
from portal.search import analytics
from portal.search.kb import search_kb
from portal.services import kb as kb_service


def viewer_is_staff() -> bool:
    return bool(current_user.is_authenticated and current_user.is_staff)


def search():
    text, category = (request.args.get("q") or "").strip(), (request.args.get("category") or "").strip()[:50]
    results = search_kb(text, staff=viewer_is_staff(), category=category or None, page=page_number()) if text else None
    log_id = None
    if results is not None and results.problem is None and results.page == 1:
        log_id = analytics.log_search(SearchSource.kb, text, results.total, current_user).id
    template = "kb/partials/_search_results.html" if htmx and not htmx.boosted else "kb/search.html"
    response = render_template(
        template, results=results, category=category, log_id=log_id, categories=kb_service.list_categories()
    )
    return response, 200, {"Vary": "HX-Request"}


def search_click():
    """Follow a search result: note the click on its search (for the KB-gap report), then go to the result."""
    clicked = analytics.read_click_token(request.args.get("t", ""))
    if clicked is None:
        return redirect(url_for("kb.search"), 303)
    log_id, doc_id = clicked
    kind, object_id = analytics.parse_doc_id(doc_id)
    analytics.record_result_click(log_id, kind, object_id)
    target = analytics.result_url(kind, object_id)
    return redirect(target or url_for("kb.search"), 303)
