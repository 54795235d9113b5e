"""Ticket categories (admin-editable; six seed categories)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Category, Ticket
from portal.services import audit
from portal.services.errors import ValidationFailed

DEFAULT_CATEGORIES = [
    ("technical", "Technical", "Errors, performance, browser problems"),
    ("integration", "Integration", "ERP, IoT and API connections"),
    ("account", "Account", "Users, permissions, billing and access"),
    ("data", "Data", "ESG data entry, imports and validation"),
    ("training", "Training", "How-to questions and onboarding"),
    ("general", "General", "Anything else"),
]
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def ensure_default_categories() -> int:
    """Create the seed categories that are missing; returns how many were added."""
    return ensure_seeded(Category, DEFAULT_CATEGORIES)


def ensure_seeded(model, seeds) -> int:
    """Add the ``(slug, name, description)`` rows of ``seeds`` that ``model`` (ticket or KB categories) lacks, in
    seed order; returns how many were added. Flushes, never commits."""
    existing = set(db.session.scalars(select(model.slug)))
    added = 0
    for position, (slug, name, description) in enumerate(seeds):
        if slug not in existing:
            db.session.add(model(slug=slug, name=name, description=description, position=position))
            added += 1
    db.session.flush()
    return added


def save_category(
    category: Category | None,
    *,
    slug: str,
    name: str,
    description: str = "",
    position: int = 0,
    is_active: bool = True,
) -> Category:
    errors: dict[str, str] = {}
    slug, name = (slug or "").strip().lower(), (name or "").strip()
    if not SLUG_RE.match(slug):
        errors["slug"] = "Use lower-case letters, digits, - and _ (at most 50)."
    if not name:
        errors["name"] = "This field is required."
    clash = db.session.scalar(select(Category).where(Category.slug == slug))
    if clash is not None and clash is not category:
        errors["slug"] = "Another category has this slug."
    if errors:
        raise ValidationFailed("The category could not be saved.", errors)
    fields = ("slug", "name", "description", "position", "is_active")
    before = {f: getattr(category, f) for f in fields} if category is not None else None
    if category is None:
        category = Category()
        db.session.add(category)
    category.slug, category.name, category.description = slug, name[:100], (description or "")[:300]
    category.position, category.is_active = position, is_active
    db.session.flush()
    old, new = audit.changes(before or {}, {f: getattr(category, f) for f in fields})
    if new:
        detail = "category " + ("created" if before is None else "changed")
        audit.record("settings.other", target=category, before=old if before else None, after=new, detail=detail)
    return category


def category_usage() -> dict[int, int]:
    return dict(db.session.execute(select(Ticket.category_id, func.count()).group_by(Ticket.category_id)).all())
