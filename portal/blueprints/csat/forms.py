"""The rating form: CSRF and the two fields. The rules (1–5, comment length, one answer) live in
``portal.services.csat``; the template draws the five stars as radio buttons."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField


class RatingForm(FlaskForm):
    rating = StringField("Rating")
    comment = TextAreaField("Comment (optional)")
