"""Who may do what in the knowledge base.

Everyone reads published public articles; staff also read internal-only ones. Every staff member contributes drafts
and edits their own drafts; curators (admins and managers) edit everything, publish, archive, restore and manage
FAQs. A staff member who is no curator sees the articles they wrote (their drafts list and each one's history).
"""

from __future__ import annotations

from portal.models import Role, User
from portal.models.kb import Article, ArticleStatus
from portal.services.errors import Forbidden

CURATOR_ROLES = frozenset({Role.admin, Role.manager})


def is_staff(actor: User | None) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False) and actor.is_staff)


def is_curator(actor: User | None) -> bool:
    return bool(actor is not None and getattr(actor, "is_authenticated", False) and actor.role in CURATOR_ROLES)


def require_staff(actor: User | None) -> None:
    if not is_staff(actor):
        raise Forbidden("Only support staff can write knowledge base articles.")


def require_curator(actor: User | None) -> None:
    if not is_curator(actor):
        raise Forbidden("Only admins and managers can publish, archive or restore articles and manage FAQs.")


def can_edit(actor: User | None, article: Article) -> bool:
    """Curators edit everything; other staff edit their own drafts."""
    return is_curator(actor) or (
        is_staff(actor) and article.status is ArticleStatus.draft and article.author_id == actor.id
    )


def can_view(actor: User | None, article: Article) -> bool:
    """Curators see every article in the curation pages (history, revisions); other staff the ones they wrote."""
    return is_curator(actor) or (is_staff(actor) and article.author_id is not None and article.author_id == actor.id)
