"""The curation lists: articles by status and category (curators see every article, other staff the ones they
wrote), counts per status, and the needs-update queue with the negative feedback behind it."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from portal.models.kb import Article, ArticleFeedback, ArticleStatus, KbCategory
from portal.services.kb.permissions import is_curator, require_staff


def _scope(actor: User, query):
    """Curators see every article; other staff members only the articles they wrote."""
    require_staff(actor)
    return query if is_curator(actor) else query.where(Article.author_id == actor.id)


def list_articles(
    actor: User,
    *,
    status: str | None = None,
    category: str | None = None,
    needs_update: bool = False,
    page: int = 1,
    size: int = 50,
) -> list[Article]:
    """Curation list, most recently changed first (``size + 1`` rows for paging)."""
    query = _scope(actor, select(Article).join(KbCategory))
    if status in {s.value for s in ArticleStatus}:
        query = query.where(Article.status == ArticleStatus(status))
    if category:
        query = query.where(KbCategory.slug == category)
    if needs_update:
        query = query.where(Article.needs_update.is_(True))
    query = query.order_by(Article.updated_at.desc(), Article.id.desc()).offset((page - 1) * size).limit(size + 1)
    return list(db.session.scalars(query))


def status_counts(actor: User) -> dict[str, int]:
    """Articles per status (and flagged for update) among those ``actor`` may list."""
    rows = db.session.execute(_scope(actor, select(Article.status, func.count()).group_by(Article.status))).all()
    counts = {s.value: 0 for s in ArticleStatus}
    counts.update({status.value: n for status, n in rows})
    flagged = _scope(actor, select(func.count()).select_from(Article).where(Article.needs_update.is_(True)))
    counts["needs_update"] = db.session.scalar(flagged) or 0
    return counts


def needs_update_queue() -> list[Article]:
    """Articles flagged by negative feedback, the worst first."""
    query = (
        select(Article)
        .where(Article.needs_update.is_(True))
        .order_by((Article.helpful_no - Article.helpful_yes).desc(), Article.updated_at)
    )
    return list(db.session.scalars(query))


def negative_feedback(article: Article, limit: int = 20) -> list[ArticleFeedback]:
    query = (
        select(ArticleFeedback)
        .where(ArticleFeedback.article_id == article.id, ArticleFeedback.helpful.is_(False))
        .order_by(ArticleFeedback.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
