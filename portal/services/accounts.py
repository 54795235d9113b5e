"""Accounts: sign-up, authentication, passwords, API tokens and staff approval."""

from __future__ import annotations

import hashlib
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import ApiToken, Organization, Role, User, utcnow
from portal.services.errors import Forbidden, NotFound, ValidationFailed

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "esg_"
_DUMMY_HASH: str | None = None


def normalize_email(email: str, *, check_deliverability: bool = False) -> str:
    try:
        return validate_email(
            (email or "").strip(), check_deliverability=check_deliverability, test_environment=True
        ).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed("Invalid email address.", {"email": str(exc)}) from exc


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed("The password is too short.", {field: f"Use at least {MIN_PASSWORD_LENGTH} characters."})


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None. Takes the same time whether or not the email exists."""
    global _DUMMY_HASH
    user = find_user_by_email(email)
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(8))
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def record_login(user: User) -> None:
    user.last_login_at = utcnow()


def organization_for_domain(email: str) -> Organization | None:
    """The organization that owns an email address's domain, if any."""
    domain = email.rsplit("@", 1)[-1].lower()
    for org in db.session.scalars(select(Organization).where(Organization.email_domains.contains(domain))):
        if domain in org.domain_list:
            return org
    return None


def register_customer(*, name: str, email: str, password: str, timezone: str = "UTC") -> User | None:
    """Self sign-up. The customer joins the organization owning the email's domain; otherwise the account waits
    for staff approval. Returns None (and changes nothing) when the email is taken, so callers answer the same way."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "This field is required."
    try:
        email = normalize_email(email)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        check_password_strength(password)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    timezone = validate_timezone(timezone, errors)
    if errors:
        raise ValidationFailed("Sign-up failed.", errors)
    if find_user_by_email(email) is not None:
        return None
    org = organization_for_domain(email)
    user = User(
        name=name[:200],
        email=email,
        password_hash=hash_password(password),
        role=Role.customer,
        organization=org,
        timezone=timezone,
        is_approved=org is not None,
        specializations=[],
    )
    db.session.add(user)
    db.session.flush()
    return user


def validate_timezone(value: str, errors: dict[str, str], field: str = "timezone") -> str:
    from zoneinfo import available_timezones

    value = (value or "UTC").strip()
    if value != "UTC" and value not in available_timezones():
        errors[field] = "Unknown time zone."
        return "UTC"
    return value


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed(
            "The current password is wrong.", {"current_password": "This is not your current password."}
        )
    check_password_strength(new, "new_password")
    user.password_hash = hash_password(new)
    db.session.flush()


def approve_user(actor: User, user: User, organization: Organization | None) -> None:
    if not actor.is_staff or actor.role not in (Role.admin, Role.manager):
        raise Forbidden("Only managers and admins approve accounts.")
    user.is_approved = True
    if organization is not None:
        user.organization = organization
    db.session.flush()


# --------------------------------------------------------------------------- API tokens


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str = "token") -> tuple[ApiToken, str]:
    """Create a token; the plain text is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=(name or "token").strip()[:100] or "token", token_digest=_digest(plain), prefix=plain[:12]
    )
    db.session.add(token)
    db.session.flush()
    return token, plain


def user_for_token(plain: str) -> User | None:
    if not plain or not plain.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_digest == _digest(plain), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        token.last_used_at = now  # coarse, to avoid a write per request
    return token.user


def revoke_api_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    token.revoked_at = utcnow()
    db.session.flush()
