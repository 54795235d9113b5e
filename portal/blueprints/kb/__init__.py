"""The ``kb`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.kb import routes, search

bp = Blueprint("kb", __name__)

bp.add_url_rule("/", view_func=routes.home, methods=["GET"])
bp.add_url_rule("/c/<slug>", view_func=routes.category, methods=["GET"])
bp.add_url_rule("/a/<slug>", view_func=routes.article, methods=["GET"])
bp.add_url_rule("/a/<slug>/feedback", view_func=routes.feedback, methods=["POST"])
bp.add_url_rule("/faq", view_func=routes.faqs, methods=["GET"])
bp.add_url_rule("/faq/<slug>", view_func=routes.category_faqs, methods=["GET"])
bp.add_url_rule("/videos", view_func=routes.videos, methods=["GET"])
bp.add_url_rule("/search", view_func=search.search, methods=["GET"])
bp.add_url_rule("/search/go", view_func=search.search_click, methods=["GET"])
