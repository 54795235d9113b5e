"""Public knowledge base pages: home, category pages, articles with feedback, FAQs and video tutorials."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("kb", __name__)

from portal.blueprints.kb import search  # noqa: E402,F401  (part B attaches kb.search to this blueprint)
