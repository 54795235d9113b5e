"""The ``widget`` blueprint: /widget.js (the embed script), the widget frame and its partials, and the admin page
for sites, keys and origins (/admin/widget). Its URL map is here; the views live in the modules imported below."""

from __future__ import annotations

from flask import Blueprint, g, request_finished

from portal.blueprints.widget import admin, embed, frame_views
from portal.extensions import csrf
from portal.services.errors import ServiceError

bp = Blueprint("widget", __name__)

bp.add_url_rule("/widget.js", view_func=embed.script, methods=["GET"])
bp.add_url_rule("/widget/frame", view_func=embed.frame, methods=["GET"])
bp.add_url_rule("/widget/session", view_func=embed.session, methods=["POST"])
bp.add_url_rule("/widget/panel", view_func=frame_views.panel, methods=["GET"])
bp.add_url_rule("/widget/suggestions", view_func=frame_views.suggestions, methods=["GET"])
bp.add_url_rule("/widget/suggestions/<doc_id>", view_func=frame_views.suggestion, methods=["GET"])
bp.add_url_rule("/widget/solved", view_func=frame_views.solved, methods=["POST"])
bp.add_url_rule("/widget/tickets", view_func=frame_views.tickets, methods=["GET"])
bp.add_url_rule("/widget/tickets", endpoint="new_ticket", view_func=frame_views.new_ticket, methods=["POST"])
bp.add_url_rule("/widget/tickets/<reference>", view_func=frame_views.ticket, methods=["GET"])
bp.add_url_rule("/widget/tickets/<reference>/replies", view_func=frame_views.reply, methods=["POST"])
bp.add_url_rule("/admin/widget", view_func=admin.sites, methods=["GET", "POST"])
bp.add_url_rule("/admin/widget/<int:site_id>", view_func=admin.update, methods=["POST"])
bp.add_url_rule("/admin/widget/<int:site_id>/keys", view_func=admin.new_key, methods=["POST"])
bp.add_url_rule("/admin/widget/<int:site_id>/keys/<int:key_id>/rotate", view_func=admin.rotate_key, methods=["POST"])
bp.add_url_rule("/admin/widget/<int:site_id>/keys/<int:key_id>/revoke", view_func=admin.revoke_key, methods=["POST"])

# The frame's state-changing requests carry no cookie: the widget session token in the X-Widget-Session header
# authenticates them. A cross-site form cannot set a header, and the token is a secret only the frame holds (never
# ambient, unlike a cookie), so a forged request has nothing to ride on: no CSRF exposure without the form token.
for view in (embed.session, frame_views.solved, frame_views.new_ticket, frame_views.reply):
    csrf.exempt(view)

bp.after_request(embed.frame_headers)
bp.register_error_handler(frame_views.Refused, frame_views.refused)
bp.register_error_handler(ServiceError, frame_views.refused)


@bp.record_once
def _drop_frame_denial(state) -> None:
    """The portal answers ``X-Frame-Options: DENY`` everywhere (portal/web.py, after this blueprint's hooks); the
    frame and its partials are the one place meant to be framed, by the origins their CSP's ``frame-ancestors``
    names, so the header is taken off them once the response is finished."""

    def drop(_app, response, **_extra) -> None:
        if g.get("widget_framed"):
            response.headers.pop("X-Frame-Options", None)

    request_finished.connect(drop, state.app, weak=False)
