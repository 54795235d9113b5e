"""Hand-made histories for the report tests: tickets, events, SLA facts and ratings written directly through the
models with explicit instants (nothing derived by a clock, so every expected figure is worked out by hand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import (
    Article,
    ArticleRevision,
    ArticleStatus,
    CsatSurvey,
    EventKind,
    KbCategory,
    Priority,
    Role,
    Status,
    SurveyState,
    Ticket,
    TicketEvent,
    Tier,
)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0, *, month: int = 3) -> datetime:
    """An instant of 2026 in UTC (March by default)."""
    return datetime(2026, month, day, hour, minute, second, micro, tzinfo=UTC)


class History:
    """Writes tickets and their timelines as they would have been recorded."""

    def __init__(self, make_user):
        self.make_user = make_user
        self.customer = make_user(Role.customer, name="Dana Customer")

    def ticket(self, created: datetime, priority: str = "medium", status: str = "new", **columns) -> Ticket:
        ticket = Ticket(
            subject=columns.pop("subject", f"Ticket created {created:%m-%d %H:%M}"),
            description="…",
            requester=self.customer,
            priority=Priority(priority),
            status=Status(status),
            tier=Tier(columns.pop("tier", "L1")),
            created_at=created,
            updated_at=created,
            **columns,
        )
        db.session.add(ticket)
        db.session.flush()
        self.event(ticket, created, EventKind.created, self.customer)
        return ticket

    def event(self, ticket, instant, kind, author=None, field=None, old=None, new=None, new_user=None):
        event = TicketEvent(
            ticket_id=ticket.id,
            kind=EventKind(kind),
            author_id=author.id if author is not None else None,
            field=field,
            old_value=old,
            new_value=new,
            new_user_id=new_user.id if new_user is not None else None,
            created_at=instant,
        )
        db.session.add(event)
        db.session.flush()
        return event

    def reply(self, ticket, instant, author):
        return self.event(ticket, instant, EventKind.public_reply, author)

    def note(self, ticket, instant, author):
        return self.event(ticket, instant, EventKind.internal_note, author)

    def status(self, ticket, instant, author, old, new):
        return self.event(ticket, instant, EventKind.field_change, author, "status", old, new)

    def priority(self, ticket, instant, author, old, new):
        return self.event(ticket, instant, EventKind.field_change, author, "priority", old, new)

    def tier(self, ticket, instant, author, old, new):
        return self.event(ticket, instant, EventKind.field_change, author, "tier", old, new)

    def assign(self, ticket, instant, author, user):
        return self.event(
            ticket, instant, EventKind.field_change, author, "assignee", None, user.name if user else None, user
        )

    def facts(self, ticket, target, *, achieved=None, breached=None, priority=None, due=None):
        """The clock engine's facts of one target, as it would have stored them."""
        setattr(ticket, f"{target}_achieved_at", achieved)
        setattr(ticket, f"{target}_breached_at", breached)
        setattr(ticket, f"{target}_breach_priority", priority if breached else None)
        setattr(ticket, f"{target}_decided_at", breached or achieved)
        setattr(ticket, f"{target}_due", due)
        db.session.flush()

    def rating(self, ticket, instant, rating, cycle=1):
        survey = CsatSurvey(
            ticket_id=ticket.id,
            requester_id=self.customer.id,
            cycle=cycle,
            state=SurveyState.answered if rating else SurveyState.open,
            offered_at=instant - timedelta(hours=1),
            expires_at=instant + timedelta(days=14),
            rating=rating,
            rated_at=instant if rating else None,
        )
        db.session.add(survey)
        db.session.flush()
        return survey

    def article(self, author, created, *, published=None, slug=None):
        category = db.session.query(KbCategory).first()
        article = Article(
            slug=slug or f"article-{created:%m%d%H%M%S}-{author.id}",
            title="How to",
            body_markdown="…",
            category_id=category.id,
            status=ArticleStatus.published if published else ArticleStatus.draft,
            author_id=author.id,
            created_at=created,
            updated_at=created,
            published_at=published,
        )
        db.session.add(article)
        db.session.flush()
        if published:  # the revision it went live with, as the KB services write it
            db.session.add(
                ArticleRevision(
                    article_id=article.id,
                    title=article.title,
                    body_markdown="…",
                    author_id=author.id,
                    contribution="published",
                    created_at=published,
                )
            )
            db.session.flush()
        self.revision(article, author, created)
        return article

    def revision(self, article, author, instant):
        live = article.published_at is not None and instant > article.published_at
        revision = ArticleRevision(
            article_id=article.id,
            title=article.title,
            body_markdown="…",
            author_id=author.id,
            contribution="updated" if live else None,
            created_at=instant,
        )
        db.session.add(revision)
        db.session.flush()
        return revision


@pytest.fixture
def history(make_user):
    return History(make_user)
