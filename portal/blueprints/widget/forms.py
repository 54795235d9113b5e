"""The frame's forms: the portal's own, without the cookie-bound CSRF token (the frame has no portal cookie; its
requests are authenticated by the widget session header, which a cross-site form cannot send)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.blueprints.customer.forms import NewTicketForm, ReplyForm
from portal.services.widget.sites import IDENTITY_MODES


class WidgetTicketForm(NewTicketForm):
    """The ticket form of the frame: the fields after the subject sit below the KB suggestions, outside the <form>
    element, and join it by its id."""

    FORM_ID = "widget-ticket-form"

    class Meta:
        csrf = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in (self.description, self.category, self.priority, self.attachments):
            field.render_kw = {**(field.render_kw or {}), "form": self.FORM_ID}


class WidgetReplyForm(ReplyForm):
    class Meta:
        csrf = False


class SiteForm(FlaskForm):
    """An admin's site form. Cookie-authenticated: the portal's CSRF check (CSRFProtect, the page's csrf_token)
    runs before the view, so the form need not carry a second, prefixed token."""

    class Meta:
        csrf = False

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    origins = TextAreaField("Allowed origins, one per line (scheme://host[:port])", validators=[DataRequired()])
    identity_mode = SelectField("How the platform signs its users", choices=list(IDENTITY_MODES.items()))
    verified_only = BooleanField("Verified users only (refuse anonymous visitors)", default=True)
    is_active = BooleanField("Active", default=True)
