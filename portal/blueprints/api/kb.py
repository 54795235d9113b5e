"""KB in the JSON API (the in-app support button shows help before a ticket is filed).

``GET /api/v1/kb/search?q=&category=&page=`` and ``GET /api/v1/kb/suggest?text=`` answer
``{"total", "page", "results": [{"title", "url", "snippet", "category", "type"}]}``. A token is optional: without one
the caller sees public published content only; a staff token adds internal articles. A token that is sent but
invalid is a 401 (never a silent downgrade)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, jsonify, request, url_for

from portal.errors import json_error
from portal.models.kb import SearchSource
from portal.params import InvalidParameter, page_param
from portal.services.accounts import user_for_token
from portal.services.errors import ValidationFailed
from portal.services.kb import search as help_search
from portal.services.kb.analytics import click_token

MAX_SUGGEST_TEXT = 5_000


def token_optional(view: Callable) -> Callable:
    """Like ``token_required``, but an absent Authorization header means an anonymous caller (``g.api_user`` None)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        g.api_user = None
        if header:
            scheme, _, token = header.partition(" ")
            g.api_user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if g.api_user is None:
                response, status = json_error(401, "unauthorized", "The token is not valid; send a valid one or none.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
                return response, status
        return view(*args, **kwargs)

    return wrapper


def _json(found: help_search.LoggedResults, parameter: str):
    results = found.results
    if results.problem:
        raise ValidationFailed(results.problem, {parameter: results.problem})
    body = {
        "total": results.total,
        "page": results.page,
        "results": [
            {
                "title": hit.title,
                "url": url_for("kb.search_click", t=click_token(found.log_id, hit.doc_id), _external=True),
                "snippet": str(hit.snippet),
                "category": hit.category,
                "type": hit.type,
            }
            for hit in results.hits
        ],
    }
    if results.did_you_mean:
        body["did_you_mean"] = results.did_you_mean
    return jsonify(body)


@token_optional
def kb_search():
    try:
        page = page_param("page", 1, lenient=False)
    except InvalidParameter as exc:
        raise ValidationFailed("page must be a positive integer.", exc.fields) from None
    category = (request.args.get("category") or "").strip()[:50] or None
    found = help_search.search(
        g.api_user,
        request.args.get("q", ""),
        source=SearchSource.api,
        category=category,
        page=page,
        log_every_page=True,
    )
    return _json(found, "q")


@token_optional
def kb_suggest():
    text = request.args.get("text", "")
    if not text.strip():
        raise ValidationFailed("Send the text to find help for.", {"text": "This parameter is required."})
    if len(text) > MAX_SUGGEST_TEXT:
        raise ValidationFailed("The text is too long.", {"text": f"At most {MAX_SUGGEST_TEXT} characters."})
    return _json(help_search.suggest(g.api_user, text), "text")
