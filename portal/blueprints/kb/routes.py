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
from portal.services.kb import feedback as votes
from portal.services.kb import listing

CATEGORY_PAGE_SIZE = 20
CATEGORY_POPULAR = 5


def home():
    return render_template(
        "kb/home.html",
        categories=listing.list_categories(),
        counts=listing.category_counts(current_user),
        popular=listing.popular_articles(current_user),
        faqs=listing.published_faqs()[:6],
    )


def category(slug: str):
    category = listing.get_category(slug)
    number = page_number()
    rows = listing.category_articles(current_user, category, number, CATEGORY_PAGE_SIZE)
    page = make_page(rows, number, CATEGORY_PAGE_SIZE)
    # A topic with more articles than one short list shows its most viewed ones first.
    many = page.has_next or len(page.items) > CATEGORY_POPULAR
    return render_template(
        "kb/category.html",
        category=category,
        page=page,
        popular=listing.popular_articles(current_user, CATEGORY_POPULAR, category) if number == 1 and many else [],
        categories=listing.list_categories(),
        faqs=listing.published_faqs(category),
    )


def article(slug: str):
    article = listing.get_article_for(current_user, slug)
    listing.record_view(article)
    return render_template(
        "kb/article.html",
        article=article,
        related=listing.related_articles(current_user, article),
        vote=_my_vote(article),
    )


@limiter.limit("20 per minute")
def feedback(slug: str):
    article = listing.get_article_for(current_user, slug)
    choice = request.form.get("helpful")
    if choice not in ("yes", "no"):
        abort(400, "Choose yes or no.")
    vote = votes.record_feedback(
        article,
        helpful=choice == "yes",
        reason=request.form.get("reason", ""),
        user=current_user if current_user.is_authenticated else None,
        voter_key=_voter_key(),
    )
    return render_template("kb/partials/_feedback.html", article=article, vote=vote, thanked=True)


def faqs():
    return render_template(
        "kb/faqs.html", category=None, categories=listing.list_categories(), faqs=listing.published_faqs()
    )


def category_faqs(slug: str):
    category = listing.get_category(slug)
    return render_template(
        "kb/faqs.html",
        category=category,
        categories=listing.list_categories(),
        faqs=listing.published_faqs(category),
    )


def videos():
    return render_template("kb/videos.html", articles=listing.video_articles(current_user))


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
    return votes.vote_of(article, key) if key else None
