"""Admin: background jobs — outbox rows by status, permanent failures with a retry button, uncertain sends."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from portal.blueprints.common import admin_required
from portal.services import jobs_admin
from portal.services.errors import ValidationFailed


@admin_required
def outbox():
    return render_template(
        "admin/outbox.html",
        counts=jobs_admin.outbox_counts(),
        failed=jobs_admin.failed_messages(),
        retrying=jobs_admin.retrying_messages(),
        uncertain=jobs_admin.uncertain_deliveries(),
    )


@admin_required
def retry_outbox(message_id: int):
    try:
        message = jobs_admin.retry_message(current_user, message_id)
    except ValidationFailed as exc:
        flash(f"Job {message_id} was not retried: {exc.fields.get('status', exc.message)}", "error")
        return redirect(url_for("admin.outbox"), 303)
    flash(f"Job {message.id} ({message.kind}) will run again shortly.", "success")
    return redirect(url_for("admin.outbox"), 303)
