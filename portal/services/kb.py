"""Knowledge base: reading rules, curation workflow (drafts, revisions, publishing), FAQs and feedback.

Every change goes through a function here: it flushes (never commits) and emits ``index.article`` / ``index.faq`` so
the single index writer picks it up (DESIGN.md §6). Reading rules, used by every page: drafts and archived articles
are never shown on the public KB; internal-only articles only to staff.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from portal.extensions import db
from portal.models import Role, Ticket, User, utcnow
from portal.models.kb import Article, ArticleFeedback, ArticleRevision, ArticleStatus, Faq, KbCategory
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from portal.services.outbox import emit

CURATOR_ROLES = frozenset({Role.admin, Role.manager})
NEEDS_UPDATE_NO_VOTES = 3  # this many "no" votes since the last edit flag an article for review
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TITLE_MAX, SUMMARY_MAX, BODY_MAX, TAGS_MAX, REASON_MAX = 200, 500, 200_000, 500, 1000


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


# --------------------------------------------------------------------------- reading rules


def is_staff(actor: User | None) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False) and actor.is_staff)


def is_curator(actor: User | None) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False) and actor.role in CURATOR_ROLES)


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


def popular_articles(actor: User | None, limit: int = 8) -> list[Article]:
    query = readable_articles(actor).order_by(Article.view_count.desc(), Article.id).limit(limit)
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


# --------------------------------------------------------------------------- video URLs


@dataclass(frozen=True)
class Video:
    provider: str  # "YouTube" or "Vimeo"
    video_id: str
    watch_url: str
    embed_url: str  # privacy-friendly: youtube-nocookie.com, Vimeo with dnt=1


_YT_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_VIMEO_ID = re.compile(r"^\d{1,12}$")


def parse_video_url(url: str) -> Video | None:
    """A Video for an allow-listed provider URL (youtube.com, youtu.be, vimeo.com), else None."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or parts.username or parts.port not in (None, 80, 443):
        return None
    host = host[4:] if host.startswith("www.") else host
    segments = [s for s in parts.path.split("/") if s]
    video_id = None
    if host in ("youtube.com", "m.youtube.com"):
        if segments == ["watch"]:
            video_id = (parse_qs(parts.query).get("v") or [""])[0]
        elif len(segments) == 2 and segments[0] in ("embed", "shorts", "live"):
            video_id = segments[1]
    elif host == "youtu.be" and len(segments) == 1:
        video_id = segments[0]
    if video_id is not None:
        if not _YT_ID.match(video_id):
            return None
        return Video(
            "YouTube",
            video_id,
            f"https://www.youtube.com/watch?v={video_id}",
            f"https://www.youtube-nocookie.com/embed/{video_id}",
        )
    if host in ("vimeo.com", "player.vimeo.com"):
        candidate = segments[-1] if segments else ""
        if _VIMEO_ID.match(candidate):
            return Video(
                "Vimeo",
                candidate,
                f"https://vimeo.com/{candidate}",
                f"https://player.vimeo.com/video/{candidate}?dnt=1",
            )
    return None


# --------------------------------------------------------------------------- curation: articles


def _require_staff(actor: User) -> None:
    if not is_staff(actor):
        raise Forbidden("Only support staff can write knowledge base articles.")


def _require_curator(actor: User) -> None:
    if not is_curator(actor):
        raise Forbidden("Only admins and managers can publish, archive or restore articles and manage FAQs.")


def can_edit(actor: User, article: Article) -> bool:
    """Curators edit everything; agents edit their own drafts."""
    return is_curator(actor) or (
        is_staff(actor) and article.status is ArticleStatus.draft and article.author_id == actor.id
    )


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


def _add_revision(actor: User | None, article: Article, note: str) -> ArticleRevision:
    revision = ArticleRevision(
        article=article,
        version=article.version,
        title=article.title,
        summary=article.summary,
        body_markdown=article.body_markdown,
        author=actor,
        note=(note or "")[:300],
    )
    db.session.add(revision)
    return revision


def _emit_article(article: Article) -> None:
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
    """A new draft (agents contribute drafts; curators publish them). Records revision 1."""
    _require_staff(actor)
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
    _emit_article(article)
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
    _emit_article(article)
    return article


def _set_status(actor: User, article: Article, status: ArticleStatus, expected_version: int | None) -> Article:
    _require_curator(actor)
    expected = _check_version(article, expected_version)
    if article.status is status:
        return article
    article.status = status
    now = utcnow()
    if status is ArticleStatus.published and article.published_at is None:
        article.published_at = now
    article.updated_at = now
    article.version = expected + 1
    _flush(article, expected)
    _emit_article(article)
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
    _emit_article(article)
    return article


def clear_needs_update(actor: User, article: Article) -> Article:
    """A curator reviewed the flagged article and found it fine as it is."""
    _require_curator(actor)
    db.session.execute(
        update(Article)
        .where(Article.id == article.id)
        .values(needs_update=False)
        .execution_options(synchronize_session="fetch")
    )
    _emit_article(article)
    return article


def get_article_by_id(article_id: int) -> Article:
    article = db.session.get(Article, article_id)
    if article is None:
        raise NotFound("There is no such article.")
    return article


def get_revision(article: Article, revision_id: int) -> ArticleRevision:
    revision = db.session.get(ArticleRevision, revision_id)
    if revision is None or revision.article_id != article.id:
        raise NotFound("There is no such revision of this article.")
    return revision


def revisions(article: Article) -> list[ArticleRevision]:
    query = select(ArticleRevision).where(ArticleRevision.article_id == article.id).order_by(ArticleRevision.id.desc())
    return list(db.session.scalars(query))


def previous_revision(revision: ArticleRevision) -> ArticleRevision | None:
    query = (
        select(ArticleRevision)
        .where(ArticleRevision.article_id == revision.article_id, ArticleRevision.id < revision.id)
        .order_by(ArticleRevision.id.desc())
        .limit(1)
    )
    return db.session.scalar(query)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "same", "hunk"
    text: str


def revision_diff(old: ArticleRevision | None, new: ArticleRevision) -> list[DiffLine]:
    """Line diff (unified, 3 lines of context) of title, summary and body between two revisions."""

    def lines(rev: ArticleRevision | None) -> list[str]:
        if rev is None:
            return []
        return [f"# {rev.title}", f"Summary: {rev.summary}", ""] + rev.body_markdown.split("\n")

    out: list[DiffLine] = []
    for line in list(difflib.unified_diff(lines(old), lines(new), lineterm="", n=3))[2:]:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(DiffLine(kind, line[1:] if kind != "hunk" else line))
    return out


def list_articles(
    *,
    status: str | None = None,
    category: str | None = None,
    needs_update: bool = False,
    page: int = 1,
    size: int = 50,
) -> list[Article]:
    """Curation list, most recently changed first (``size + 1`` rows for paging)."""
    query = select(Article).join(KbCategory)
    if status in {s.value for s in ArticleStatus}:
        query = query.where(Article.status == ArticleStatus(status))
    if category:
        query = query.where(KbCategory.slug == category)
    if needs_update:
        query = query.where(Article.needs_update.is_(True))
    query = query.order_by(Article.updated_at.desc(), Article.id.desc()).offset((page - 1) * size).limit(size + 1)
    return list(db.session.scalars(query))


def status_counts() -> dict[str, int]:
    rows = db.session.execute(select(Article.status, func.count()).group_by(Article.status)).all()
    counts = {s.value: 0 for s in ArticleStatus}
    counts.update({status.value: n for status, n in rows})
    counts["needs_update"] = db.session.scalar(select(func.count()).where(Article.needs_update.is_(True))) or 0
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


# --------------------------------------------------------------------------- feedback


def record_feedback(
    article: Article, *, helpful: bool, reason: str = "", user: User | None = None, voter_key: str | None = None
) -> ArticleFeedback:
    """Record a "was this helpful?" vote. The same voter (user, else anonymous session key) voting again changes
    their vote instead of adding one. A "no" with a reason, or ``NEEDS_UPDATE_NO_VOTES`` "no" votes since the last
    edit, puts the article in the *needs update* queue."""
    if not article.is_public and not is_staff(user):
        raise NotFound("There is no such article.")
    reason = (reason or "").strip()[:REASON_MAX] if not helpful else ""
    key = f"u:{user.id}" if user is not None and getattr(user, "is_authenticated", False) else voter_key
    vote = None
    if key:
        vote = db.session.scalar(
            select(ArticleFeedback).where(ArticleFeedback.article_id == article.id, ArticleFeedback.voter_key == key)
        )
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
    _emit_article(article)
    return vote


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


# --------------------------------------------------------------------------- FAQs


def get_faq(faq_id: int) -> Faq:
    faq = db.session.get(Faq, faq_id)
    if faq is None:
        raise NotFound("There is no such FAQ.")
    return faq


def all_faqs() -> list[Faq]:
    query = select(Faq).join(KbCategory).order_by(KbCategory.position, Faq.position, Faq.id)
    return list(db.session.scalars(query))


def save_faq(
    actor: User, faq: Faq | None, *, category: str, question: str, answer_markdown: str, is_published: bool = True
) -> Faq:
    """Create (appended at the end of its category) or edit an FAQ."""
    _require_curator(actor)
    errors: dict[str, str] = {}
    question, answer = (question or "").strip(), (answer_markdown or "").replace("\r\n", "\n").strip()
    if not question:
        errors["question"] = "Write the question."
    elif len(question) > 300:
        errors["question"] = "At most 300 characters."
    if not answer:
        errors["answer_markdown"] = "Write the answer."
    elif len(answer) > 50_000:
        errors["answer_markdown"] = "At most 50,000 characters."
    cat = db.session.scalar(select(KbCategory).where(KbCategory.slug == (category or "")))
    if cat is None:
        errors["category"] = "Choose a category from the list."
    if errors:
        raise ValidationFailed("The FAQ could not be saved.", errors)
    if faq is None or faq.category_id != cat.id:
        last = db.session.scalar(select(func.max(Faq.position)).where(Faq.category_id == cat.id))
        position = (last if last is not None else -1) + 1
        if faq is None:
            faq = Faq(created_at=utcnow())
            db.session.add(faq)
        faq.position = position
    faq.category_id, faq.question, faq.answer_markdown = cat.id, question, answer
    faq.is_published, faq.updated_at = bool(is_published), utcnow()
    db.session.flush()
    emit("index.faq", {"faq_id": faq.id})
    return faq


def move_faq(actor: User, faq: Faq, direction: str) -> Faq:
    """Swap the FAQ with its neighbour above ("up") or below ("down") within its category."""
    _require_curator(actor)
    if direction not in ("up", "down"):
        raise ValidationFailed("Move an FAQ up or down.", {"direction": "up or down"})
    siblings = list(
        db.session.scalars(select(Faq).where(Faq.category_id == faq.category_id).order_by(Faq.position, Faq.id))
    )
    for position, sibling in enumerate(siblings):  # normalize gaps and ties first
        sibling.position = position
    index = siblings.index(faq)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(siblings):
        siblings[index].position, siblings[other].position = siblings[other].position, siblings[index].position
        siblings[other].updated_at = faq.updated_at = utcnow()
        emit("index.faq", {"faq_id": siblings[other].id})
    db.session.flush()
    emit("index.faq", {"faq_id": faq.id})
    return faq


def delete_faq(actor: User, faq: Faq) -> None:
    _require_curator(actor)
    faq_id = faq.id
    db.session.delete(faq)
    db.session.flush()
    emit("index.faq", {"faq_id": faq_id})


# --------------------------------------------------------------------------- drafts from tickets


def draft_from_ticket(actor: User, ticket: Ticket) -> ArticleInput:
    """Pre-fill a new article from a solved ticket: its subject as the title, the question and the staff's public
    answers as the body. Internal notes never go in."""
    _require_staff(actor)
    from portal.models import EventKind, TicketEvent

    events = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.public_reply)
        .order_by(TicketEvent.id)
    )
    answers = [e.body.strip() for e in events if e.author is not None and e.author.is_staff and e.body.strip()]
    body = (
        "## Question\n\n"
        + ticket.description.strip()
        + "\n\n## Answer\n\n"
        + ("\n\n".join(answers) if answers else "_Write the answer here._")
        + "\n"
    )
    category = _CATEGORY_FOR_TICKET.get(ticket.category.slug if ticket.category else "", "troubleshooting")
    return ArticleInput(
        title=ticket.subject.strip()[:TITLE_MAX],
        body_markdown=body,
        category=category,
        summary=ticket.subject.strip()[:SUMMARY_MAX],
        internal_only=False,
    )


_CATEGORY_FOR_TICKET = {
    "technical": "troubleshooting",
    "integration": "integrations",
    "account": "admin",
    "data": "data-entry",
    "training": "getting-started",
    "general": "getting-started",
}


def vote_of(article: Article, voter_key: str) -> ArticleFeedback | None:
    return db.session.scalar(
        select(ArticleFeedback).where(ArticleFeedback.article_id == article.id, ArticleFeedback.voter_key == voter_key)
    )
