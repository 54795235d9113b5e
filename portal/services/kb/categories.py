"""The six seed KB categories (also inserted by the 0005_kb migration): added when missing."""

from __future__ import annotations

from portal.models.kb import KB_CATEGORIES, KbCategory
from portal.services.catalog import ensure_seeded


def ensure_kb_categories() -> int:
    """Create the seed KB categories that are missing; returns how many were added. Flushes, never commits."""
    return ensure_seeded(KbCategory, KB_CATEGORIES)
