from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class SignupForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)], render_kw={"autocomplete": "name"})
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email"})
    # The length and the rest of the password policy are checked by the service (accounts.check_password_strength).
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=200)], render_kw={"autocomplete": "new-password"}
    )
    timezone = StringField("Time zone", default="UTC", validators=[Length(max=64)])


class ProfileForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=200)], render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


# Address verification, password reset and email change (signup.py).
class EmailOnlyForm(FlaskForm):
    """The address for "send the confirmation again" and "forgot password?"."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email"})


class ConfirmLinkForm(FlaskForm):
    """The button on a link's page: following a link only shows the page (mail scanners open links), the button
    acts."""


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=200)], render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class EmailChangeForm(FlaskForm):
    # Own ids: the profile page also renders PasswordForm.current_password.
    new_email = EmailField(
        "New address", id="new-email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email"}
    )
    current_password = PasswordField(
        "Current password",
        id="email-current-password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )


class TokenForm(FlaskForm):
    # Own id: the profile page also renders ProfileForm.name, and two #name would leave this box without its label.
    name = StringField("Token name", id="token-name", validators=[DataRequired(), Length(max=100)])
    scope = RadioField(
        "Access",
        id="token-scope",
        choices=[("read", "Read only (GET requests)"), ("write", "Read and write")],
        default="read",  # least privilege when not chosen; anything but these two is "Not a valid choice"
    )
    # The range (1 to API_TOKEN_MAX_DAYS) is checked by accounts.token_days, which names the limit.
    days = IntegerField(
        "Expires after (days)",
        id="token-days",
        validators=[Optional()],
        render_kw={"inputmode": "numeric", "min": "1"},
    )


# Two-factor authentication. Own ids: several of these forms share the profile page.
_CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}


class TwoFactorLoginForm(FlaskForm):
    code = StringField(
        "Authentication code or recovery code",
        validators=[DataRequired(), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )


class TwoFactorEnableForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app",
        id="enable-code",
        validators=[DataRequired(), Length(max=20)],
        render_kw=_CODE_ATTRS,
    )


class TwoFactorDisableForm(FlaskForm):
    password = PasswordField(
        "Your password",
        id="disable-password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Current authenticator code",
        id="disable-code",
        validators=[DataRequired(), Length(max=20)],
        render_kw=_CODE_ATTRS,
    )


class RecoveryCodesForm(FlaskForm):
    code = StringField(
        "Current authenticator code",
        id="regenerate-code",
        validators=[DataRequired(), Length(max=20)],
        render_kw=_CODE_ATTRS,
    )
