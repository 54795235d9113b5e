"""Admin: inbound mail. The list (state and reason filters, counts per state, keyset pages by id), a message's
page, its raw source as inert text, and the quarantine actions (reprocess, release as a new ticket, discard), each
audited with the change it made and answered with a flash — a refusal is shown, never a 500."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.blueprints.common import roles_required
from portal.blueprints.mail import inbox as queries
from portal.extensions import db
from portal.models import InboundState, Role
from portal.params import choice_param, id_param
from portal.services import audit
from portal.services.errors import ServiceError
from portal.services.mail import pipeline

admin_only = roles_required(Role.admin)

RAW_CSP = "sandbox; default-src 'none'"


@admin_only
def inbox():
    state = choice_param("state", [s.value for s in InboundState], None)
    reason = choice_param("reason", list(pipeline.REASONS), None)
    before = id_param("before", None, lenient=True)
    after = id_param("after", None, lenient=True) if before is None else None
    page = queries.inbox_page(
        InboundState(state) if state else None, reason, before=before, after=after, size=queries.PAGE_SIZE
    )
    return render_template(
        "mail/inbox.html",
        page=page,
        state=state,
        reason=reason,
        counts=queries.state_counts(),
        count_cap=queries.COUNT_CAP,
        reason_counts=queries.quarantine_reason_counts() if state == InboundState.quarantined.value else [],
        reasons=pipeline.REASONS,
        outcomes=pipeline.OUTCOMES,
    )


@admin_only
def message(inbound_id: int):
    inbound = queries.inbound_or_404(inbound_id)
    return render_template("mail/message.html", **queries.message_context(inbound))


@admin_only
def raw(inbound_id: int):
    """The message as received, as plain text: never rendered as HTML, never sniffed, sandboxed if opened."""
    inbound = queries.inbound_or_404(inbound_id)
    response = Response(bytes(inbound.raw or b""), mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = RAW_CSP
    response.headers["Content-Disposition"] = f'inline; filename="message-{inbound.id}.txt"'
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["X-Raw-Truncated"] = "yes" if inbound.raw_truncated else "no"
    return response


def _act(inbound_id: int, action: str, run, done: str):
    """Run one quarantine action on message ``inbound_id`` and audit it with its before/after state; a refusal or
    a failure is rolled back and flashed."""
    inbound = queries.inbound_or_404(inbound_id)
    before = queries.snapshot(inbound)
    try:
        run(inbound, current_user._get_current_object())
        after = queries.snapshot(inbound)
        audit.record(
            action,
            target_type="inbound_messages",
            target_id=inbound.id,
            target_label=(inbound.subject or inbound.from_address or f"message {inbound.id}")[:254],
            before=before,
            after=after,
        )
        db.session.flush()
    except ServiceError as exc:
        db.session.rollback()
        flash(f"Message #{inbound_id}: {exc.message}", "error")
        return redirect(url_for("mail.message", inbound_id=inbound_id), 303)
    except Exception:  # a failure of the pipeline itself: nothing was kept, the admin sees why
        db.session.rollback()
        current_app.logger.exception("mail action %s on message %s failed", action, inbound_id)
        flash(f"Message #{inbound_id}: the action failed and nothing was changed; see the server log.", "error")
        return redirect(url_for("mail.message", inbound_id=inbound_id), 303)
    flash(done.format(id=inbound.id, **queries.flash_values(inbound)), "success")
    return redirect(url_for("mail.message", inbound_id=inbound.id), 303)


@admin_only
def reprocess(inbound_id: int):
    return _act(inbound_id, "mail.reprocessed", pipeline.reprocess, "Message #{id} was processed again: {result}.")


@admin_only
def release(inbound_id: int):
    return _act(inbound_id, "mail.released", pipeline.release_as_new_ticket, "Message #{id} was released: {result}.")


@admin_only
def discard(inbound_id: int):
    return _act(inbound_id, "mail.discarded", pipeline.discard, "Message #{id} was discarded (it is kept, unused).")
