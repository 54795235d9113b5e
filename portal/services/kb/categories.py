"""The six seed KB categories (also inserted by the 0005_kb migration): added when missing."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models.kb import KB_CATEGORIES, KbCategory


def ensure_kb_categories() -> int:
    """Create the seed KB categories that are missing; returns how many were added. Flushes, never commits."""
    existing = set(db.session.scalars(select(KbCategory.slug)))
    added = 0
    for position, (slug, name, description) in enumerate(KB_CATEGORIES):
        if slug not in existing:
            db.session.add(KbCategory(slug=slug, name=name, description=description, position=position))
            added += 1
    db.session.flush()
    return added
