"""Knowledge base: categories, articles with revisions, FAQs, feedback, and the search/deflection log that the KB
analytics read. The services in ``portal.services.kb`` hold the workflow."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User, _enum
from portal.models.base import Base, utcnow
from portal.models.tickets import Ticket

KB_CATEGORIES = [
    ("getting-started", "Getting Started", "First login, navigation and the basics of the platform"),
    ("data-entry", "Data Entry", "Adding ESG data, bulk imports and validation"),
    ("reporting", "Reporting", "GRI, SASB and TCFD reports, frameworks and exports"),
    ("integrations", "Integrations", "ERP and IoT connections and the API"),
    ("troubleshooting", "Troubleshooting", "Common errors, performance and browser compatibility"),
    ("admin", "Admin", "Users, permissions and configuration"),
]


class ArticleStatus(str, enum.Enum):
    draft = "draft"
    published = "published"
    archived = "archived"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class SearchSource(str, enum.Enum):
    kb = "kb"  # the KB search page
    suggest = "suggest"  # suggestions while a customer types a ticket
    api = "api"  # the JSON API (in-app support button)
    ticket = "ticket"  # staff/customer ticket search


class KbCategory(Base):
    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<KbCategory {self.slug}>"


class Article(Base):
    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("kb_categories.id"))
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus, "article_status"), default=ArticleStatus.draft)
    internal_only: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[str] = mapped_column(String(500), default="")  # comma-separated, lower-case
    video_url: Mapped[str | None] = mapped_column(String(500))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    view_count: Mapped[int] = mapped_column(default=0)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    needs_update: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    category: Mapped[KbCategory] = relationship()
    author: Mapped[User | None] = relationship()

    # Optimistic concurrency, as for tickets: an ORM UPDATE is conditional on the version read; the services bump it
    # once per editorial change. Counters (views, votes) are bumped with atomic UPDATE statements instead.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    __table_args__ = (
        Index("ix_kb_articles_status_category_id", "status", "category_id", "published_at"),
        Index("ix_kb_articles_status_view_count", "status", "view_count"),
        Index("ix_kb_articles_needs_update", "needs_update"),
    )

    @property
    def tag_list(self) -> list[str]:
        return [t.strip() for t in (self.tags or "").split(",") if t.strip()]

    @property
    def is_public(self) -> bool:
        """Readable without signing in: published and not internal-only."""
        return self.status is ArticleStatus.published and not self.internal_only

    def __repr__(self) -> str:
        return f"<Article {self.slug} {self.status.value}>"


class ArticleRevision(Base):
    """The article as it was saved at one version (title and body), with who saved it and why."""

    __tablename__ = "kb_article_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(300), default="")
    # What this revision contributed to the published knowledge base: "published" (the article went live with it),
    # "updated" (a published article changed), None (saved while not published). Reports count these.
    contribution: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship()
    author: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("ix_kb_article_revisions_article_id_id", "article_id", "id"),
        Index("ix_kb_article_revisions_contribution_created_at", "contribution", "created_at"),
    )


class Faq(Base):
    __tablename__ = "kb_faqs"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("kb_categories.id"))
    question: Mapped[str] = mapped_column(String(300))
    answer_markdown: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    is_published: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    category: Mapped[KbCategory] = relationship()

    __table_args__ = (Index("ix_kb_faqs_category_id_position", "category_id", "position"),)


class ArticleFeedback(Base):
    """One "was this helpful?" vote. ``voter_key`` identifies the voter (user or anonymous session) so that a
    voter's second vote replaces the first instead of counting twice."""

    __tablename__ = "kb_article_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    helpful: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voter_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship()
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("ix_kb_article_feedback_article_id_created_at", "article_id", "created_at"),
        Index("ix_kb_article_feedback_article_id_voter_key", "article_id", "voter_key"),
    )


class SearchLog(Base):
    """Every KB/suggestion/API/ticket search with its result count (the top-searches and KB-gap reports).

    Rows arrive from the search log buffer (``portal.services.kb.search_log_buffer``): ``uuid`` is the entry's id,
    made when the search was answered, so moving an entry in twice adds one row (None for rows older than it)."""

    __tablename__ = "kb_search_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    query: Mapped[str] = mapped_column(String(500), default="")
    normalized_query: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[SearchSource] = mapped_column(_enum(SearchSource, "search_source"), default=SearchSource.kb)
    result_count: Mapped[int] = mapped_column(default=0)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    clicked_article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    clicked_faq_id: Mapped[int | None] = mapped_column(ForeignKey("kb_faqs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_kb_search_logs_created_at", "created_at"),
        Index("ix_kb_search_logs_normalized_query", "normalized_query"),
    )


class Deflection(Base):
    """A suggested article or FAQ ended a visit without a ticket ("This solved my problem")."""

    __tablename__ = "kb_deflections"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    faq_id: Mapped[int | None] = mapped_column(ForeignKey("kb_faqs.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_kb_deflections_created_at", "created_at"),)


class TicketSuggestion(Base):
    """An article or FAQ that was suggested while the ticket was being written."""

    __tablename__ = "kb_ticket_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    faq_id: Mapped[int | None] = mapped_column(ForeignKey("kb_faqs.id", ondelete="SET NULL"))
    shown_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship()

    __table_args__ = (Index("ix_kb_ticket_suggestions_ticket_id", "ticket_id"),)
