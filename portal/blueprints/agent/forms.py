from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class AgentReplyForm(FlaskForm):
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=50_000)])
    internal = BooleanField("Internal note (only the team sees it)")
    attachments = MultipleFileField("Attach files (an internal note's files are internal too)")
    status = SelectField("Then set status", validators=[Optional()], validate_choice=False)
