from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class SignupForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)], render_kw={"autocomplete": "name"})
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email"})
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(min=10, max=200)], render_kw={"autocomplete": "new-password"}
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
        "New password", validators=[DataRequired(), Length(min=10, max=200)], render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", "The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class TokenForm(FlaskForm):
    # Own id: the profile page also renders ProfileForm.name, and two #name would leave this box without its label.
    name = StringField("Token name", id="token-name", validators=[DataRequired(), Length(max=100)])
