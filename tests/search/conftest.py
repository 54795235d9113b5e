"""Search fixtures: empty Whoosh indexes for every test (the database is emptied after each test and ids restart, so
documents from an earlier test must not linger), a helper that runs the index jobs, and KB factories."""

from __future__ import annotations

import itertools

import pytest

from portal.extensions import db
from portal.models.kb import Article, ArticleStatus, Faq, KbCategory
from portal.search.schema import KB_INDEX, TICKET_INDEX
from portal.search.store import close_searchers, recreate_index
from workers.inline import run_pending

INDEX_KINDS = ["index.ticket", "index.article", "index.faq"]
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def search_index(app):
    with app.app_context():
        recreate_index(KB_INDEX)
        recreate_index(TICKET_INDEX)
    yield
    close_searchers()


@pytest.fixture
def run_index_jobs():
    def run() -> int:
        db.session.commit()
        return run_pending(kinds=INDEX_KINDS)

    return run


@pytest.fixture
def kb_category():
    def make(slug: str = "troubleshooting", name: str = "Troubleshooting") -> KbCategory:
        category = db.session.query(KbCategory).filter_by(slug=slug).one_or_none()
        if category is None:
            category = KbCategory(slug=slug, name=name, position=next(_seq))
            db.session.add(category)
            db.session.commit()
        return category

    return make


@pytest.fixture
def make_article(kb_category):
    """An article written straight to the database plus an ``index.article`` outbox row (as the KB services do)."""
    from portal.services.outbox import emit

    def make(
        title: str,
        body: str,
        *,
        status: str = "published",
        internal: bool = False,
        tags: str = "",
        category: str = "troubleshooting",
    ) -> Article:
        n = next(_seq)
        article = Article(
            slug=f"article-{n}",
            title=title,
            body_markdown=body,
            tags=tags,
            category=kb_category(category, category.replace("-", " ").title()),
            status=ArticleStatus(status),
            internal_only=internal,
        )
        db.session.add(article)
        db.session.flush()
        emit("index.article", {"article_id": article.id})
        db.session.commit()
        return article

    return make


@pytest.fixture
def make_faq(kb_category):
    from portal.services.outbox import emit

    def make(question: str, answer: str, *, published: bool = True, category: str = "troubleshooting") -> Faq:
        faq = Faq(
            question=question,
            answer_markdown=answer,
            is_published=published,
            category=kb_category(category, category.replace("-", " ").title()),
        )
        db.session.add(faq)
        db.session.flush()
        emit("index.faq", {"faq_id": faq.id})
        db.session.commit()
        return faq

    return make
