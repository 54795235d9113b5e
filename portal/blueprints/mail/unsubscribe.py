"""The one-click unsubscribe link of notification emails (RFC 8058). No sign-in: the signed token names the user
and the one preference it turns off. GET shows a confirmation (mail scanners follow links; a GET changes nothing),
POST — the mail client's one-click request or the confirmation's button — turns the preference off. A token that
is not ours gets a 400 page."""

from __future__ import annotations

from flask import render_template, request

from portal.services.errors import ValidationFailed
from portal.services.mail import outgoing


def unsubscribe(token: str):
    try:
        found = outgoing.unsubscribe(token) if request.method == "POST" else outgoing.read_unsubscribe(token)
    except ValidationFailed as exc:
        return render_template("mail/unsubscribe.html", invalid=exc.message, token=token), 400
    return render_template(
        "mail/unsubscribe.html", found=found, done=request.method == "POST", token=token, invalid=None
    )
