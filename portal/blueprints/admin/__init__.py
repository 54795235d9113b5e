"""The ``admin`` blueprint: its URL map, in one place (views live in the modules imported here)."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.admin import audit, cost, kb, kb_reports, outbox, routes, sla

bp = Blueprint("admin", __name__)

bp.add_url_rule("/kb/", view_func=kb.kb_articles, methods=["GET"])
bp.add_url_rule("/kb/needs-update", view_func=kb.kb_needs_update, methods=["GET"])
bp.add_url_rule("/kb/new", view_func=kb.kb_new, methods=["GET", "POST"])
bp.add_url_rule("/kb/from-ticket/<reference>", view_func=kb.kb_from_ticket, methods=["GET"])
bp.add_url_rule("/kb/<int:article_id>/edit", view_func=kb.kb_edit, methods=["GET", "POST"])
bp.add_url_rule("/kb/preview", view_func=kb.kb_preview, methods=["POST"])
bp.add_url_rule("/kb/<int:article_id>/status", view_func=kb.kb_set_status, methods=["POST"])
bp.add_url_rule("/kb/<int:article_id>/reviewed", view_func=kb.kb_reviewed, methods=["POST"])
bp.add_url_rule("/kb/<int:article_id>/history", view_func=kb.kb_history, methods=["GET"])
bp.add_url_rule("/kb/<int:article_id>/revisions/<int:revision_id>", view_func=kb.kb_revision, methods=["GET"])
bp.add_url_rule("/kb/<int:article_id>/revisions/<int:revision_id>/restore", view_func=kb.kb_restore, methods=["POST"])
bp.add_url_rule("/kb/faqs", view_func=kb.kb_faqs, methods=["GET"])
bp.add_url_rule("/kb/faqs/new", view_func=kb.kb_faq, methods=["GET", "POST"], defaults={"faq_id": None})
bp.add_url_rule("/kb/faqs/<int:faq_id>", view_func=kb.kb_faq, methods=["GET", "POST"])
bp.add_url_rule("/kb/faqs/<int:faq_id>/move", view_func=kb.kb_faq_move, methods=["POST"])
bp.add_url_rule("/kb/faqs/<int:faq_id>/delete", view_func=kb.kb_faq_delete, methods=["POST"])
bp.add_url_rule("/kb/reports", view_func=kb_reports.kb_reports, methods=["GET"])
bp.add_url_rule("/audit", view_func=audit.audit_log, methods=["GET"])
bp.add_url_rule("/audit.csv", view_func=audit.audit_csv, methods=["GET"])
bp.add_url_rule("/outbox", view_func=outbox.outbox, methods=["GET"])
bp.add_url_rule("/outbox/<int:message_id>/retry", view_func=outbox.retry_outbox, methods=["POST"])
bp.add_url_rule("/", view_func=routes.index, methods=["GET"])
bp.add_url_rule("/users/<int:user_id>/approve", view_func=routes.approve, methods=["POST"])
bp.add_url_rule("/organizations", view_func=routes.organizations, methods=["GET"])
bp.add_url_rule("/organizations/new", view_func=routes.new_organization, methods=["GET", "POST"])
bp.add_url_rule("/organizations/<int:organization_id>", view_func=routes.organization, methods=["GET", "POST"])
bp.add_url_rule(
    "/organizations/<int:organization_id>/joins/<int:user_id>/approve", view_func=routes.approve_join, methods=["POST"]
)
bp.add_url_rule(
    "/organizations/<int:organization_id>/joins/<int:user_id>/refuse", view_func=routes.refuse_join, methods=["POST"]
)
bp.add_url_rule("/users", view_func=routes.users, methods=["GET"])
bp.add_url_rule("/users/new", view_func=routes.new_user, methods=["GET", "POST"])
bp.add_url_rule("/users/<int:user_id>", view_func=routes.user, methods=["GET", "POST"])
bp.add_url_rule("/users/<int:user_id>/two-factor/reset", view_func=routes.reset_two_factor, methods=["POST"])
bp.add_url_rule("/categories", view_func=routes.categories, methods=["GET", "POST"])
bp.add_url_rule("/categories/<int:category_id>", view_func=routes.category, methods=["GET", "POST"])
bp.add_url_rule("/categories/<int:category_id>/deactivate", view_func=routes.deactivate_category, methods=["POST"])
bp.add_url_rule("/categories/<int:category_id>/activate", view_func=routes.activate_category, methods=["POST"])
bp.add_url_rule("/cost", view_func=cost.cost_model, methods=["GET", "POST"])
bp.add_url_rule("/sla", view_func=sla.sla, methods=["GET"])
bp.add_url_rule("/sla/default", view_func=sla.sla_default_policy, methods=["GET", "POST"])
bp.add_url_rule("/sla/policies/new", view_func=sla.sla_new_policy, methods=["GET", "POST"])
bp.add_url_rule("/sla/policies/<int:policy_id>", view_func=sla.sla_policy, methods=["GET", "POST"])
bp.add_url_rule("/sla/policies/<int:policy_id>/delete", view_func=sla.sla_delete_policy, methods=["POST"])
bp.add_url_rule("/sla/calendars/new", view_func=sla.sla_new_calendar, methods=["GET", "POST"])
bp.add_url_rule("/sla/calendars/<int:calendar_id>", view_func=sla.sla_calendar, methods=["GET", "POST"])
