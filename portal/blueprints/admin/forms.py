"""Admin forms. Choices come from the services (roles the actor may grant, organizations, category slugs)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.models import Role, ShiftRegion, User
from portal.services import admin as admin_service
from portal.services import phone as phone_service

NO_ORGANIZATION = ("", "— No organization —")


def organization_select_choices() -> list[tuple[str, str]]:
    return [NO_ORGANIZATION] + [(str(o.id), o.name) for o in admin_service.organization_choices()]


class CheckboxListField(SelectMultipleField):
    """Several checkboxes, each with its own label; render inside a fieldset with a legend."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OrganizationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email_domains = StringField("Email domains", validators=[Length(max=500)])
    region = StringField("Region", validators=[Length(max=20)])
    plan = StringField("Plan", validators=[Length(max=50)])
    notes = TextAreaField("Notes", validators=[Length(max=10_000)])
    join_policy = SelectField(
        "People signing up at these domains join",
        choices=[
            ("automatic", "Automatically, once they confirm their address"),
            ("approval", "After an admin or an organization admin approves them"),
        ],
        default="automatic",
    )


class _UserFields(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", validators=[DataRequired()])
    organization_id = SelectField("Organization", validators=[Optional()])
    timezone = StringField("Time zone", default="UTC", validators=[DataRequired(), Length(max=64)])
    shift_region = SelectField("Shift region", validators=[Optional()])
    specializations = CheckboxListField("Specializations", validators=[Optional()])
    # Stored in E.164 (+442079460000) to find callers by number; several accounts may share one.
    phone = StringField("Phone number", validators=[Optional(), Length(max=40)], render_kw={"autocomplete": "off"})

    def validate_phone(self, field) -> None:
        if (field.data or "").strip() and phone_service.normalize_number(field.data) is None:
            raise ValidationError(phone_service.BAD_NUMBER)

    def __init__(self, *args, actor: User, user: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        roles = admin_service.grantable_roles(actor)
        if user is not None and user.role not in roles:
            roles = [user.role] + roles  # shown as it is; the service refuses a change it does not allow
        self.role.choices = [(r.value, r.label) for r in roles]
        self.organization_id.choices = organization_select_choices()
        self.shift_region.choices = [("", "— None —")] + [(s.value, s.value) for s in ShiftRegion]
        self.specializations.choices = [(c.slug, c.name) for c in admin_service.all_categories()]

    @property
    def organization(self) -> int | None:
        """The chosen organization's id (the select carries strings; "" is none)."""
        return int(self.organization_id.data) if self.organization_id.data else None


class NewUserForm(_UserFields):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "off"})
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=10, max=200)],
        render_kw={"autocomplete": "new-password"},
    )


class EditUserForm(_UserFields):
    is_active_account = BooleanField("Account is active (can sign in)")
    is_org_admin = BooleanField("Organization admin (approves who joins their organization)")
    new_password = PasswordField(
        "New password", validators=[Optional(), Length(min=10, max=200)], render_kw={"autocomplete": "new-password"}
    )

    def __init__(self, *args, actor: User, user: User, **kwargs):
        super().__init__(*args, actor=actor, user=user, **kwargs)
        if not self.is_submitted():
            self.role.data = user.role.value
            self.shift_region.data = user.shift_region.value if user.shift_region else ""
            self.organization_id.data = str(user.organization_id or "")


class ApproveForm(FlaskForm):
    organization_id = SelectField("Organization", validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization_id.choices = organization_select_choices()

    @property
    def organization(self) -> int | None:
        return int(self.organization_id.data) if self.organization_id.data else None


class CategoryForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=50)])
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    description = StringField("Description", validators=[Length(max=300)])
    position = IntegerField("Position in lists", default=0, validators=[Optional(), NumberRange(min=0, max=10_000)])
    is_active = BooleanField("Offered for new tickets", default=True)


ROLE_FILTERS = [("", "All roles")] + [(r.value, r.label) for r in Role]
