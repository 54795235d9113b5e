"""Suggestions while a customer writes a ticket: matching articles and FAQs, opened in place, with
"This solved my problem" (a deflection, no ticket) and "Still need help" (back to the untouched form)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.common import customer_required
from portal.extensions import htmx
from portal.models.kb import Article
from portal.services.kb import analytics
from portal.services.kb.search import suggest


def _typed_text() -> str:
    return " ".join(
        part for part in (request.values.get("subject", ""), request.values.get("description", "")) if part.strip()
    )


def _shown() -> list[str]:
    return [d for d in dict.fromkeys(request.values.getlist("suggested")) if analytics.parse_doc_id(d)][:20]


@customer_required
def suggestions():
    text = _typed_text()
    found = suggest(current_user, text) if text.strip() else None
    results, log_id = (found.results, found.log_id) if found else (None, None)
    shown = list(dict.fromkeys(_shown() + [hit.doc_id for hit in (results.hits if results else [])]))[:20]
    return (
        render_template("customer/partials/_suggestions.html", results=results, log_id=log_id, shown=shown, oob=True),
        200,
        {"Vary": "HX-Request"},
    )


@customer_required
def suggestion(doc_id: str):
    doc = analytics.suggestable(doc_id)
    if doc is None:
        abort(404)
    search = analytics.search_ref(request.args.get("log"))
    if search is not None:
        analytics.record_click(search, doc)  # noted in the search log buffer: no write on this GET
    return render_template(
        "customer/partials/_suggestion_open.html",
        doc=doc,
        doc_id=doc_id,
        is_article=isinstance(doc, Article),
        text=_typed_text(),
    )


@customer_required
def solved_by_suggestion():
    """ "This solved my problem": record the deflection and leave without filing a ticket."""
    doc = analytics.suggestable(request.form.get("doc", ""))
    if doc is None:
        abort(404)
    analytics.record_deflection(current_user, doc, request.form.get("text", ""))
    flash("Glad that helped — no ticket was filed. You can always come back if the problem returns.", "success")
    if htmx:  # a boosted form: leave the new-ticket page for good (full navigation, the form is not kept)
        return "", 200, {"HX-Redirect": url_for("customer.home")}
    return redirect(url_for("customer.home"), 303)
