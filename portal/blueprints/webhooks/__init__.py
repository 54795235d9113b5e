"""The ``webhooks`` blueprint: outgoing webhook subscriptions and their delivery log (/admin/webhooks, admins
only). Its URL map is here; the views live in ``views``."""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.webhooks import views

bp = Blueprint("webhooks", __name__)

bp.add_url_rule("/admin/webhooks", view_func=views.index, methods=["GET"])
bp.add_url_rule("/admin/webhooks", endpoint="create", view_func=views.create, methods=["POST"])
bp.add_url_rule("/admin/webhooks/<int:subscription_id>", view_func=views.detail, methods=["GET"])
bp.add_url_rule("/admin/webhooks/<int:subscription_id>", endpoint="update", view_func=views.update, methods=["POST"])
bp.add_url_rule("/admin/webhooks/<int:subscription_id>/rotate", view_func=views.rotate, methods=["POST"])
bp.add_url_rule("/admin/webhooks/<int:subscription_id>/ping", view_func=views.ping, methods=["POST"])
bp.add_url_rule("/admin/webhooks/<int:subscription_id>/delete", view_func=views.delete, methods=["POST"])
bp.add_url_rule(
    "/admin/webhooks/<int:subscription_id>/deliveries/<int:delivery_id>", view_func=views.delivery, methods=["GET"]
)
bp.add_url_rule(
    "/admin/webhooks/<int:subscription_id>/deliveries/<int:delivery_id>/redeliver",
    view_func=views.redeliver,
    methods=["POST"],
)
