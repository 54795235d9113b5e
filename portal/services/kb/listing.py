"""What the public help-centre pages list: categories, published articles (internal-only ones for staff only),
popular and related articles, video tutorials, published FAQs, and the view counter.

Drafts and archived articles are never listed here, whoever asks (curators preview them in the curation pages).
"""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select, update

from portal.extensions import db
from portal.models import User
from portal.models.kb import Article, ArticleStatus, Faq, KbCategory
from portal.services.errors import NotFound
from portal.services.kb.permissions import is_staff


def readable_articles(actor: User | None) -> Select:
    """Published articles the actor may read on the KB pages (internal-only ones only for staff)."""
    query = select(Article).where(Article.status == ArticleStatus.published)
    if not is_staff(actor):
        query = query.where(Article.internal_only.is_(False))
    return query


def get_article_for(actor: User | None, slug: str) -> Article:
    """The published article ``slug`` if the actor may read it; NotFound otherwise (drafts, archived, internal)."""
    article = db.session.scalar(readable_articles(actor).where(Article.slug == slug))
    if article is None:
        raise NotFound("There is no such article.")
    return article


def get_category(slug: str) -> KbCategory:
    category = db.session.scalar(select(KbCategory).where(KbCategory.slug == slug))
    if category is None:
        raise NotFound("There is no such category.")
    return category


def list_categories() -> list[KbCategory]:
    return list(db.session.scalars(select(KbCategory).order_by(KbCategory.position, KbCategory.name)))


def category_counts(actor: User | None) -> dict[int, int]:
    query = readable_articles(actor).with_only_columns(Article.category_id, func.count()).group_by(Article.category_id)
    return dict(db.session.execute(query).all())


def popular_articles(actor: User | None, limit: int = 8, category: KbCategory | None = None) -> list[Article]:
    """The most viewed readable articles (of ``category``, or of the whole KB), most viewed first; equal view
    counts in title order."""
    query = readable_articles(actor)
    if category is not None:
        query = query.where(Article.category_id == category.id)
    query = query.order_by(Article.view_count.desc(), Article.title, Article.id).limit(limit)
    return list(db.session.scalars(query))


def category_articles(actor: User | None, category: KbCategory, page: int, size: int) -> list[Article]:
    """One page (plus one row, to tell whether a next page exists) of a category's articles, newest first."""
    query = (
        readable_articles(actor)
        .where(Article.category_id == category.id)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .offset((page - 1) * size)
        .limit(size + 1)
    )
    return list(db.session.scalars(query))


def related_articles(actor: User | None, article: Article, limit: int = 5) -> list[Article]:
    """Articles sharing the most tags with ``article``, then others of its category, most viewed first."""
    tag_match = [Article.tags.like(f"%{tag}%") for tag in article.tag_list[:8]]
    query = (
        readable_articles(actor)
        .where(Article.id != article.id)
        .where(or_(Article.category_id == article.category_id, *tag_match))
        .order_by(Article.view_count.desc(), Article.id)
        .limit(40)
    )
    mine = set(article.tag_list)

    def score(other: Article) -> tuple:
        return (-len(mine & set(other.tag_list)), other.category_id != article.category_id)

    return sorted(db.session.scalars(query), key=score)[:limit]


def video_articles(actor: User | None) -> list[Article]:
    query = (
        readable_articles(actor)
        .where(Article.video_url.is_not(None), Article.video_url != "")
        .order_by(Article.category_id, Article.title)
    )
    return list(db.session.scalars(query))


def record_view(article: Article) -> None:
    """Count one view with an atomic UPDATE (no lost increments, no version bump, no index job)."""
    db.session.execute(
        update(Article)
        .where(Article.id == article.id)
        .values(view_count=Article.view_count + 1)
        .execution_options(synchronize_session=False)
    )


def published_faqs(category: KbCategory | None = None) -> list[Faq]:
    query = select(Faq).where(Faq.is_published.is_(True)).join(KbCategory)
    if category is not None:
        query = query.where(Faq.category_id == category.id)
    return list(db.session.scalars(query.order_by(KbCategory.position, Faq.position, Faq.id)))
