"""The ``mail`` blueprint (registered at ``/admin/mail``, admins only): every inbound message, newest first, with its
state, reason and outcome; the quarantine; a message's page (summary, threading, linked ticket, files); its raw
source served inert as text; and the actions reprocess, release as a new ticket and discard (POST, CSRF, audited).

It also registers the ``email`` blueprint (``/mail``) for what the email channel shows outside the admin area:
the one-click unsubscribe link of notification emails (public, its signed token authenticates; GET confirms, POST
unsubscribes; exempt from CSRF as RFC 8058 requires), the full original of a mail on a ticket (signed-in users who
may read the event), and the ticket page's participant list and merge (staff). The template globals the ticket
page's mail panel and the timeline's mail slot use live here too (one query per page).
"""

from __future__ import annotations

from flask import Blueprint

from portal.blueprints.mail import admin, panel, ticket, unsubscribe
from portal.extensions import csrf

bp = Blueprint("mail", __name__)
email_bp = Blueprint("email", __name__)

bp.add_url_rule("/", view_func=admin.inbox, methods=["GET"])
bp.add_url_rule("/<int:inbound_id>", view_func=admin.message, methods=["GET"])
bp.add_url_rule("/<int:inbound_id>/raw", view_func=admin.raw, methods=["GET"])
bp.add_url_rule("/<int:inbound_id>/reprocess", view_func=admin.reprocess, methods=["POST"])
bp.add_url_rule("/<int:inbound_id>/release", view_func=admin.release, methods=["POST"])
bp.add_url_rule("/<int:inbound_id>/discard", view_func=admin.discard, methods=["POST"])

email_bp.add_url_rule("/unsubscribe/<token>", view_func=unsubscribe.unsubscribe, methods=["GET", "POST"])
email_bp.add_url_rule("/messages/<int:inbound_id>/original", view_func=ticket.original, methods=["GET"])
email_bp.add_url_rule("/tickets/<reference>/participants", view_func=ticket.add_participant, methods=["POST"])
email_bp.add_url_rule(
    "/tickets/<reference>/participants/<int:participant_id>/remove",
    view_func=ticket.remove_participant,
    methods=["POST"],
)
email_bp.add_url_rule("/tickets/<reference>/merge", view_func=ticket.merge, methods=["POST"])
csrf.exempt(unsubscribe.unsubscribe)  # mail clients POST the one-click link without cookies or a form token

bp.add_app_template_global(panel.ticket_mail, "ticket_mail")
bp.add_app_template_global(panel.event_mail, "event_mail")


@bp.record_once
def _register_email_blueprint(state) -> None:
    state.app.register_blueprint(email_bp, url_prefix="/mail")


@bp.after_request
@email_bp.after_request
def _private(response):
    """Mail pages show people's messages (and the unsubscribe URL is a capability): never cached."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    response.vary.add("HX-Request")
    return response
