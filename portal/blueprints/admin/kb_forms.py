"""Forms of the KB curation pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.services.kb.articles import ArticleInput
from portal.services.kb.listing import list_categories


def category_choices() -> list[tuple[str, str]]:
    return [(c.slug, c.name) for c in list_categories()]


class ArticleForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    slug = StringField("Address (slug)", validators=[Optional(), Length(max=200)])
    category = SelectField("Category", validators=[DataRequired()])
    summary = StringField("Summary", validators=[Length(max=500)])
    tags = StringField("Tags (comma-separated)", validators=[Length(max=500)])
    video_url = StringField("Video (YouTube or Vimeo address)", validators=[Optional(), Length(max=500)])
    internal_only = BooleanField("Internal only (support staff)")
    body_markdown = TextAreaField("Text (Markdown)", validators=[DataRequired(), Length(max=200_000)])
    note = StringField("What changed (for the history)", validators=[Length(max=300)])
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
    source_ticket = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()

    def to_input(self) -> ArticleInput:
        return ArticleInput(
            title=self.title.data or "",
            body_markdown=self.body_markdown.data or "",
            category=self.category.data,
            summary=self.summary.data or "",
            tags=self.tags.data or "",
            internal_only=bool(self.internal_only.data),
            video_url=self.video_url.data or "",
            slug=self.slug.data or "",
        )


class FaqForm(FlaskForm):
    category = SelectField("Category", validators=[DataRequired()])
    question = StringField("Question", validators=[DataRequired(), Length(max=300)])
    answer_markdown = TextAreaField("Answer (Markdown)", validators=[DataRequired(), Length(max=50_000)])
    is_published = BooleanField("Published", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()


class VersionForm(FlaskForm):
    version = IntegerField(widget=HiddenField.widget, validators=[Optional()])
