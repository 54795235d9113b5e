"""A new article drafted from a solved ticket: the subject as the title, the question and the staff's public
answers as the body, in the KB category matching the ticket's category. Internal notes never go in."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import EventKind, Ticket, TicketEvent, User
from portal.services.kb.articles import SUMMARY_MAX, TITLE_MAX, ArticleInput
from portal.services.kb.permissions import require_staff

CATEGORY_FOR_TICKET = {
    "technical": "troubleshooting",
    "integration": "integrations",
    "account": "admin",
    "data": "data-entry",
    "training": "getting-started",
    "general": "getting-started",
}
DEFAULT_CATEGORY = "troubleshooting"


def draft_from_ticket(actor: User, ticket: Ticket) -> ArticleInput:
    """The pre-filled editor input (nothing is saved until the author saves the draft)."""
    require_staff(actor)
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
    category = CATEGORY_FOR_TICKET.get(ticket.category.slug if ticket.category else "", DEFAULT_CATEGORY)
    return ArticleInput(
        title=ticket.subject.strip()[:TITLE_MAX],
        body_markdown=body,
        category=category,
        summary=ticket.subject.strip()[:SUMMARY_MAX],
        internal_only=False,
    )
