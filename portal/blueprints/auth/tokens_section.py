"""The profile page's API token section: what its template needs."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.auth.forms import TokenForm
from portal.extensions import db
from portal.models import ApiToken, utcnow


def profile_context(token_form=None, new_token=None) -> dict:
    """What the profile page's token section needs: the tokens not revoked (expired ones too, marked, so their
    owner sees why a script stopped working), the form, and a token just made (shown this once)."""
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).all()
    if token_form is None:  # a blank form (not the one just sent), with the default life filled in
        token_form = TokenForm(formdata=None, days=current_app.config["API_TOKEN_DEFAULT_DAYS"])
    return {
        "tokens": tokens,
        "token_form": token_form,
        "new_token": new_token,
        "tokens_now": utcnow(),
        "token_max_days": current_app.config["API_TOKEN_MAX_DAYS"],
    }
