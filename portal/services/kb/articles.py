"""The article workflow: drafts (any staff member), edits checked against the version the editor loaded, publishing,
archiving and back to draft (curators), restoring an old revision, and clearing the needs-update flag.

Every editorial change bumps the article's version, records a revision when the text changed, flushes (never
commits) and emits ``index.article``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from portal.extensions import db
from portal.models import Ticket, User, utcnow
from portal.models.kb import Article, ArticleRevision, ArticleStatus, KbCategory
from portal.services import audit
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from portal.services.kb.permissions import can_edit, require_curator, require_staff
from portal.services.kb.video import parse_video_url
from portal.services.outbox import emit

AUDITED_STATUSES = {ArticleStatus.published: "kb.published", ArticleStatus.archived: "kb.archived"}
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TITLE_MAX, SUMMARY_MAX, BODY_MAX, TAGS_MAX = 200, 500, 200_000, 500


class ArticleConflict(ServiceError):
    """The article changed since the version the editor loaded; nothing was written."""

    status_code = 409
    code = "version_conflict"

    def __init__(self, article: Article, expected_version: int):
        super().__init__(
            f"This article was changed by someone else while you were editing (you started from version "
            f"{expected_version}, it is now at version {article.version}). Your text was not saved: copy it, "
            f"reload the editor and apply your changes again.",
            {"version": f"The article is at version {article.version}; reload it."},
        )
        self.article_id = article.id
        self.expected_version = expected_version
        self.current_version = article.version


@dataclass
class ArticleInput:
    title: str
    body_markdown: str
    category: str  # category slug
    summary: str = ""
    tags: str = ""
    internal_only: bool = False
    video_url: str = ""
    slug: str = ""  # empty: derived from the title (new articles) or kept (existing ones)


def get_article_by_id(article_id: int) -> Article:
    article = db.session.get(Article, article_id)
    if article is None:
        raise NotFound("There is no such article.")
    return article


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].strip("-") or "article"


def _unique_slug(base: str, article: Article | None = None) -> str:
    slug, n = base, 2
    while True:
        clash = db.session.scalar(select(Article.id).where(Article.slug == slug))
        if clash is None or (article is not None and clash == article.id):
            return slug
        slug, n = f"{base[:190]}-{n}", n + 1


def normalize_tags(tags: str | list[str]) -> str:
    items = tags.split(",") if isinstance(tags, str) else tags
    seen: list[str] = []
    for tag in items:
        tag = re.sub(r"\s+", " ", tag.strip().lower())[:40]
        if tag and tag not in seen:
            seen.append(tag)
    return ", ".join(seen)[:TAGS_MAX]


def _validated(data: ArticleInput, article: Article | None) -> tuple[dict, KbCategory]:
    errors: dict[str, str] = {}
    title, body = (data.title or "").strip(), (data.body_markdown or "").replace("\r\n", "\n")
    if not title:
        errors["title"] = "Give the article a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"At most {TITLE_MAX} characters."
    if not body.strip():
        errors["body_markdown"] = "Write the article text."
    elif len(body) > BODY_MAX:
        errors["body_markdown"] = f"At most {BODY_MAX:,} characters."
    summary = (data.summary or "").strip()
    if len(summary) > SUMMARY_MAX:
        errors["summary"] = f"At most {SUMMARY_MAX} characters."
    category = db.session.scalar(select(KbCategory).where(KbCategory.slug == (data.category or "")))
    if category is None:
        errors["category"] = "Choose a category from the list."
    video_url = (data.video_url or "").strip()
    video = parse_video_url(video_url) if video_url else None
    if video_url and video is None:
        errors["video_url"] = "Use a YouTube (youtube.com, youtu.be) or Vimeo (vimeo.com) video address."
    slug = (data.slug or "").strip().lower()
    if slug and (not SLUG_RE.match(slug) or len(slug) > 200):
        errors["slug"] = "Use lower-case letters, digits and single hyphens."
    elif slug:
        clash = db.session.scalar(select(Article.id).where(Article.slug == slug))
        if clash is not None and (article is None or clash != article.id):
            errors["slug"] = "Another article already uses this address."
    if errors:
        raise ValidationFailed("The article could not be saved.", errors)
    values = dict(
        title=title,
        body_markdown=body,
        summary=summary,
        tags=normalize_tags(data.tags),
        internal_only=bool(data.internal_only),
        video_url=video.watch_url if video else None,
    )
    if slug or article is None:
        values["slug"] = slug or _unique_slug(slugify(title), article)
    return values, category


def _add_revision(
    actor: User | None, article: Article, note: str, *, contribution: str | None = None
) -> ArticleRevision:
    """Record the article as it now is. A revision saved while the article is published is an update of the
    published knowledge base; ``contribution="published"`` marks the one it went live with."""
    if contribution is None and article.status is ArticleStatus.published:
        contribution = "updated"
    revision = ArticleRevision(
        article=article,
        version=article.version,
        title=article.title,
        summary=article.summary,
        body_markdown=article.body_markdown,
        author=actor,
        note=(note or "")[:300],
        contribution=contribution,
        created_at=utcnow(),
    )
    db.session.add(revision)
    return revision


def emit_article(article: Article) -> None:
    """Have the index writer bring the article's document up to date once this transaction commits."""
    emit("index.article", {"article_id": article.id})


def _flush(article: Article, expected_version: int) -> None:
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        current = db.session.get(Article, article.id)
        raise ArticleConflict(current or article, expected_version) from None


def _check_version(article: Article, expected_version: int | None) -> int:
    if expected_version is None:
        return article.version
    if expected_version != article.version:
        raise ArticleConflict(article, expected_version)
    return expected_version


def create_article(
    actor: User, data: ArticleInput, *, note: str = "Created", source_ticket: Ticket | None = None
) -> Article:
    """A new draft (staff contribute drafts; curators publish them). Records revision 1."""
    require_staff(actor)
    values, category = _validated(data, None)
    now = utcnow()
    article = Article(
        **values,
        category=category,
        author=actor,
        status=ArticleStatus.draft,
        created_at=now,
        updated_at=now,
        version=1,
        source_ticket_id=source_ticket.id if source_ticket else None,
    )
    db.session.add(article)
    _add_revision(actor, article, note)
    db.session.flush()
    emit_article(article)
    return article


def update_article(
    actor: User, article: Article, data: ArticleInput, *, expected_version: int | None, note: str = ""
) -> Article:
    """Save an edit: a stale ``expected_version`` is an ArticleConflict (409), never a silent overwrite. Records a
    revision when the title, summary or body changed."""
    if not can_edit(actor, article):
        raise Forbidden("You can edit your own drafts only; ask an admin to change published articles.")
    expected = _check_version(article, expected_version)
    values, category = _validated(data, article)
    content_changed = any(getattr(article, k) != values[k] for k in ("title", "summary", "body_markdown"))
    for key, value in values.items():
        setattr(article, key, value)
    article.category = category
    article.updated_at = utcnow()
    article.version = expected + 1
    if content_changed:
        article.needs_update = False
        _add_revision(actor, article, note or "Edited")
    _flush(article, expected)
    emit_article(article)
    return article


def _set_status(actor: User, article: Article, status: ArticleStatus, expected_version: int | None) -> Article:
    require_curator(actor)
    expected = _check_version(article, expected_version)
    if article.status is status:
        return article
    previous = article.status
    article.status = status
    now = utcnow()
    if status is ArticleStatus.published and article.published_at is None:
        article.published_at = now
    article.updated_at = now
    article.version = expected + 1
    if status is ArticleStatus.published:
        _add_revision(actor, article, "Published", contribution="published")
    if status in AUDITED_STATUSES:
        audit.record(
            AUDITED_STATUSES[status],
            target=article,
            before={"status": previous, "version": expected},
            after={"status": status, "version": article.version},
            actor=actor,
        )
    _flush(article, expected)
    emit_article(article)
    return article


def publish_article(actor: User, article: Article, *, expected_version: int | None = None) -> Article:
    return _set_status(actor, article, ArticleStatus.published, expected_version)


def archive_article(actor: User, article: Article, *, expected_version: int | None = None) -> Article:
    return _set_status(actor, article, ArticleStatus.archived, expected_version)


def unpublish_article(actor: User, article: Article, *, expected_version: int | None = None) -> Article:
    """Back to draft (e.g. an archived article that needs rework)."""
    return _set_status(actor, article, ArticleStatus.draft, expected_version)


def restore_revision(
    actor: User, article: Article, revision: ArticleRevision, *, expected_version: int | None
) -> Article:
    """Make an old revision's title, summary and body current again (as a new revision; history is kept)."""
    if revision.article_id != article.id:
        raise NotFound("There is no such revision of this article.")
    if not can_edit(actor, article):
        raise Forbidden("You cannot change this article.")
    expected = _check_version(article, expected_version)
    article.title, article.summary, article.body_markdown = revision.title, revision.summary, revision.body_markdown
    article.updated_at = utcnow()
    article.version = expected + 1
    article.needs_update = False
    _add_revision(actor, article, f"Restored version {revision.version}")
    _flush(article, expected)
    emit_article(article)
    return article


def clear_needs_update(actor: User, article: Article) -> Article:
    """A curator reviewed the flagged article and found it fine as it is."""
    require_curator(actor)
    db.session.execute(
        update(Article)
        .where(Article.id == article.id)
        .values(needs_update=False)
        .execution_options(synchronize_session="fetch")
    )
    emit_article(article)
    return article
