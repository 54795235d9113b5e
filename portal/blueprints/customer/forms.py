from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.services.queries import active_categories


class NewTicketForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Describe the problem", validators=[DataRequired(), Length(max=50_000)])
    category = SelectField("Category", validators=[DataRequired()])
    priority = SelectField("Priority", default="medium", validators=[DataRequired()])
    attachments = MultipleFileField("Attach files (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = [(c.slug, c.name) for c in active_categories()]
        self.priority.choices = [(p, p.capitalize()) for p in current_app.config["CUSTOMER_PRIORITIES"]]


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[DataRequired(), Length(max=50_000)])
    attachments = MultipleFileField("Attach files (optional)")


class VersionForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])
