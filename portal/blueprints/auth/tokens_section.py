"""The profile page's API token section: what its template needs."""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.auth.forms import TokenForm
from portal.extensions import db
from portal.models import ApiToken


def profile_context(token_form=None, new_token=None) -> dict:
    """What the profile page's token section needs."""
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).all()
    return {"tokens": tokens, "token_form": token_form or TokenForm(), "new_token": new_token}
