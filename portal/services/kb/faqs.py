"""FAQs (curators only): create, edit, reorder within a category, delete. Each change emits ``index.faq``."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User, utcnow
from portal.models.kb import Faq, KbCategory
from portal.services.errors import NotFound, ValidationFailed
from portal.services.kb.permissions import require_curator
from portal.services.outbox import emit

QUESTION_MAX, ANSWER_MAX = 300, 50_000


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
    require_curator(actor)
    errors: dict[str, str] = {}
    question, answer = (question or "").strip(), (answer_markdown or "").replace("\r\n", "\n").strip()
    if not question:
        errors["question"] = "Write the question."
    elif len(question) > QUESTION_MAX:
        errors["question"] = f"At most {QUESTION_MAX} characters."
    if not answer:
        errors["answer_markdown"] = "Write the answer."
    elif len(answer) > ANSWER_MAX:
        errors["answer_markdown"] = f"At most {ANSWER_MAX:,} characters."
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
    require_curator(actor)
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
    require_curator(actor)
    faq_id = faq.id
    db.session.delete(faq)
    db.session.flush()
    emit("index.faq", {"faq_id": faq_id})
