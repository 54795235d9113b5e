"""The ``status`` blueprint. The public status page: components, incidents, maintenance, history, feed and
subscriptions (no session needed); and the staff pages that edit its components (admins) and maintenance windows
(managers and admins) under /ops/status. Its URL map, in one place (views live in the modules imported here).
"""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.status import public, staff, subscribe

bp = Blueprint("status", __name__)
bp.after_request(public.keep_session_untouched)

bp.add_url_rule("/status", view_func=public.page, endpoint="page", methods=["GET"])
bp.add_url_rule("/status/incidents/<int:incident_id>", view_func=public.incident, endpoint="incident", methods=["GET"])
bp.add_url_rule("/status/feed.atom", view_func=public.feed_atom, endpoint="feed_atom", methods=["GET"])
bp.add_url_rule("/status/feed.rss", view_func=public.feed_rss, endpoint="feed_rss", methods=["GET"])
bp.add_url_rule("/status/subscribe", view_func=subscribe.subscribe, endpoint="subscribe", methods=["GET", "POST"])
bp.add_url_rule("/status/confirm/<token>", view_func=subscribe.confirm, endpoint="confirm", methods=["GET", "POST"])
bp.add_url_rule(
    "/status/unsubscribe/<token>", view_func=subscribe.unsubscribe, endpoint="unsubscribe", methods=["GET", "POST"]
)
bp.add_url_rule("/status/manage/<token>", view_func=subscribe.manage, endpoint="manage", methods=["POST"])

bp.add_url_rule("/ops/status/components", view_func=staff.components, endpoint="components", methods=["GET"])
bp.add_url_rule("/ops/status/components", view_func=staff.add_component, endpoint="add_component", methods=["POST"])
bp.add_url_rule(
    "/ops/status/components/<int:component_id>",
    view_func=staff.update_component,
    endpoint="update_component",
    methods=["POST"],
)
bp.add_url_rule(
    "/ops/status/components/<int:component_id>/move",
    view_func=staff.move_component,
    endpoint="move_component",
    methods=["POST"],
)
bp.add_url_rule("/ops/status/maintenance", view_func=staff.maintenance, endpoint="maintenance", methods=["GET"])
bp.add_url_rule(
    "/ops/status/maintenance", view_func=staff.schedule_maintenance, endpoint="schedule_maintenance", methods=["POST"]
)
bp.add_url_rule(
    "/ops/status/maintenance/<int:window_id>/cancel",
    view_func=staff.cancel_maintenance,
    endpoint="cancel_maintenance",
    methods=["POST"],
)


@bp.record_once
def _exempt_link_posts(state) -> None:
    """The unsubscribe link's one-click POST (RFC 8058: a mail client posts without any page or cookie): the signed
    token in the URL is the credential, no CSRF token. (The component choice on the same page takes one.)"""
    from portal.extensions import csrf

    csrf.exempt(subscribe.unsubscribe)
