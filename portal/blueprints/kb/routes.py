"""Public knowledge base pages: home, category pages, articles with feedback, FAQs and video tutorials.

No login needed for public published articles; internal-only articles only for staff; drafts and archived articles
are a 404 here whoever asks (curators preview them under /admin/kb). Search (``kb.search``) lives in search.py.
"""

from __future__ import annotations

import secrets

from flask import abort, render_template, request, session
from flask_login import current_user

from portal.blueprints.common import make_page, page_number
from portal.extensions import limiter
from portal.services import kb as kb_service

CATEGORY_PAGE_SIZE = 20


def home():
    return render_template(
        "kb/home.html",
        categories=kb_service.list_categories(),
        counts=kb_service.category_counts(current_user),
        popular=kb_service.popular_articles(current_user),
        faqs=kb_service.published_faqs()[:6],
    )


def category(slug: str):
    category = kb_service.get_category(slug)
    number = page_number()
    rows = kb_service.category_articles(current_user, category, number, CATEGORY_PAGE_SIZE)
    return render_template(
        "kb/category.html",
        category=category,
        page=make_page(rows, number, CATEGORY_PAGE_SIZE),
        categories=kb_service.list_categories(),
        faqs=kb_service.published_faqs(category),
    )


def article(slug: str):
    article = kb_service.get_article_for(current_user, slug)
    kb_service.record_view(article)
    return render_template(
        "kb/article.html",
        article=article,
        related=kb_service.related_articles(current_user, article),
        vote=_my_vote(article),
    )


@limiter.limit("20 per minute")
def feedback(slug: str):
    article = kb_service.get_article_for(current_user, slug)
    choice = request.form.get("helpful")
    if choice not in ("yes", "no"):
        abort(400, "Choose yes or no.")
    vote = kb_service.record_feedback(
        article,
        helpful=choice == "yes",
        reason=request.form.get("reason", ""),
        user=current_user if current_user.is_authenticated else None,
        voter_key=_voter_key(),
    )
    return render_template("kb/partials/_feedback.html", article=article, vote=vote, thanked=True)


def faqs():
    return render_template(
        "kb/faqs.html", category=None, categories=kb_service.list_categories(), faqs=kb_service.published_faqs()
    )


def category_faqs(slug: str):
    category = kb_service.get_category(slug)
    return render_template(
        "kb/faqs.html",
        category=category,
        categories=kb_service.list_categories(),
        faqs=kb_service.published_faqs(category),
    )


def videos():
    return render_template("kb/videos.html", articles=kb_service.video_articles(current_user))


def _voter_key() -> str:
    """Anonymous voters are told apart by a random key in their session (one vote per session and article)."""
    if "kb_voter" not in session:
        session["kb_voter"] = secrets.token_hex(16)
    return "s:" + session["kb_voter"]


def _my_vote(article):
    key = (
        f"u:{current_user.id}"
        if current_user.is_authenticated
        else ("s:" + session["kb_voter"] if "kb_voter" in session else None)
    )
    return kb_service.vote_of(article, key) if key else None
