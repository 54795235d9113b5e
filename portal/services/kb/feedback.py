""" "Was this helpful?" votes: one per voter (a user, else an anonymous session key) and article; a "no" with a reason,
or ``NEEDS_UPDATE_NO_VOTES`` "no" votes since the last edit, flag the article for the needs-update queue."""

from __future__ import annotations

from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import User, utcnow
from portal.models.kb import Article, ArticleFeedback
from portal.services.errors import NotFound
from portal.services.kb.articles import emit_article
from portal.services.kb.permissions import is_staff

NEEDS_UPDATE_NO_VOTES = 3  # this many "no" votes since the last edit flag an article for review
REASON_MAX = 1000


def record_feedback(
    article: Article, *, helpful: bool, reason: str = "", user: User | None = None, voter_key: str | None = None
) -> ArticleFeedback:
    """Record a vote. The same voter voting again changes their vote instead of adding one."""
    if not article.is_public and not is_staff(user):
        raise NotFound("There is no such article.")
    reason = (reason or "").strip()[:REASON_MAX] if not helpful else ""
    key = f"u:{user.id}" if user is not None and getattr(user, "is_authenticated", False) else voter_key
    vote = vote_of(article, key) if key else None
    deltas = {"helpful_yes": 0, "helpful_no": 0}
    if vote is None:
        vote = ArticleFeedback(
            article_id=article.id,
            helpful=helpful,
            reason=reason,
            voter_key=key,
            user_id=user.id if key and key.startswith("u:") else None,
        )
        db.session.add(vote)
        deltas["helpful_yes" if helpful else "helpful_no"] += 1
    else:
        if vote.helpful != helpful:
            deltas["helpful_yes" if vote.helpful else "helpful_no"] -= 1
            deltas["helpful_yes" if helpful else "helpful_no"] += 1
        vote.helpful, vote.reason, vote.created_at = helpful, reason, utcnow()
    db.session.flush()
    values = {k: getattr(Article, k) + v for k, v in deltas.items() if v}
    if not helpful and _should_flag(article, reason):
        values["needs_update"] = True
    if values:
        db.session.execute(
            update(Article)
            .where(Article.id == article.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(article)
    emit_article(article)
    return vote


def vote_of(article: Article, voter_key: str) -> ArticleFeedback | None:
    return db.session.scalar(
        select(ArticleFeedback).where(ArticleFeedback.article_id == article.id, ArticleFeedback.voter_key == voter_key)
    )


def _should_flag(article: Article, reason: str) -> bool:
    if reason:
        return True
    recent_no = db.session.scalar(
        select(func.count()).where(
            ArticleFeedback.article_id == article.id,
            ArticleFeedback.helpful.is_(False),
            ArticleFeedback.created_at >= article.updated_at,
        )
    )
    return (recent_no or 0) >= NEEDS_UPDATE_NO_VOTES
