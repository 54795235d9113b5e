"""KB search page ``/kb/search?q=&category=&page=`` and the result links that record clicks (for the KB-gap report).

Anonymous visitors and customers search public published content; staff also internal articles (the rule is in
``portal.services.kb.search``, and part of the Whoosh query)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import page_number
from portal.extensions import htmx
from portal.models.kb import Article, SearchSource
from portal.services.kb import analytics
from portal.services.kb import search as kb_search
from portal.services.kb.listing import list_categories


def search():
    text, category = (request.args.get("q") or "").strip(), (request.args.get("category") or "").strip()[:50]
    found = (
        kb_search.search(current_user, text, source=SearchSource.kb, category=category or None, page=page_number())
        if text
        else None
    )
    template = "kb/partials/_search_results.html" if htmx and not htmx.boosted else "kb/search.html"
    response = render_template(
        template,
        results=found.results if found else None,
        category=category,
        log_id=found.log_id if found else None,
        categories=list_categories(),
    )
    return response, 200, {"Vary": "HX-Request"}


def search_click():
    """Follow a search result: note the click on its search (for the KB-gap report), then go to the result."""
    doc = analytics.follow_click(request.args.get("t", ""))
    if doc is None:
        return redirect(url_for("kb.search"), 303)
    return redirect(document_url(doc), 303)


def document_url(doc) -> str:
    """Where an article or FAQ is read: the article page, or the FAQ on its category's FAQ page."""
    if isinstance(doc, Article):
        return url_for("kb.article", slug=doc.slug)
    return url_for("kb.category_faqs", slug=doc.category.slug, _anchor=f"faq-{doc.id}")
