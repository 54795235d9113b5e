"""Accounts: sign-up, authentication, passwords, API tokens and staff approval."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import AccountLink, ApiToken, LinkPurpose, Organization, Role, TokenScope, User, utcnow
from portal.services import audit
from portal.services.errors import Forbidden, NotFound, ValidationFailed

MIN_PASSWORD_LENGTH = 10  # outside an app context; the setting PASSWORD_MIN_LENGTH decides otherwise
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


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's frequency lists (pinned in pyproject), lower-cased, loaded once."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def min_password_length() -> int:
    if not has_app_context():
        return MIN_PASSWORD_LENGTH
    return int(current_app.config.get("PASSWORD_MIN_LENGTH") or MIN_PASSWORD_LENGTH)


def check_password_strength(password: str, field: str = "password", *, email: str | None = None) -> None:
    """The password policy (sign-up, reset, profile change, staff-made accounts): at least PASSWORD_MIN_LENGTH
    characters, not one of the common passwords, not the account's email address or its part before the @."""
    password = password or ""
    minimum = min_password_length()
    if len(password) < minimum:
        raise ValidationFailed("The password is too short.", {field: f"Use at least {minimum} characters."})
    folded = password.strip().lower()
    if folded in common_passwords():
        raise ValidationFailed(
            "The password is too common.", {field: "This password is one of the most common ones; choose another."}
        )
    address = (email or "").strip().lower()
    if address and folded in {address, address.rsplit("@", 1)[0]}:
        raise ValidationFailed("The password is your address.", {field: "Do not use your email address as password."})


def set_password(user: User, new: str) -> None:
    """Store a new password (already checked against the policy): the change time is kept and every reset link still
    outstanding stops working."""
    now = utcnow()
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    for link in db.session.scalars(
        select(AccountLink).where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == LinkPurpose.reset_password,
            AccountLink.used_at.is_(None),
        )
    ):
        link.used_at = now


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


# The password hash of an account nobody has set a password for (made from an email): it matches no password, and
# computing it costs nothing (hashing a random secret with the slow hash would only make filing by mail slow).
UNUSABLE_PASSWORD = "!unusable"


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None. Takes the same time whether or not the email exists, and whether or
    not the account has a password yet."""
    global _DUMMY_HASH
    user = find_user_by_email(email)
    if user is None or user.password_hash == UNUSABLE_PASSWORD:
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
    """Self sign-up of an account whose address is not proven yet (``portal.services.account_flows.sign_up`` mails
    the link). The organization owning the email's domain is only *requested* (``requested_organization_id``):
    the account joins it when the address is verified (and, if the organization says so, approved); without such
    an organization the account waits for staff approval. Returns None (and changes nothing) when the email is
    taken, so callers answer the same way; the password is hashed either way, so both take the same time."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "This field is required."
    try:
        email = normalize_email(email)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        check_password_strength(password, email=email if "email" not in errors else None)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    timezone = validate_timezone(timezone, errors)
    if errors:
        raise ValidationFailed("Sign-up failed.", errors)
    password_hash = hash_password(password)  # before the look-up: a taken address costs the same time
    if find_user_by_email(email) is not None:
        return None
    org = organization_for_domain(email)
    user = User(
        name=name[:200],
        email=email,
        password_hash=password_hash,
        role=Role.customer,
        organization=None,
        requested_organization=org,
        timezone=timezone,
        is_approved=org is not None,
        specializations=[],
        email_verified_at=None,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # the same address signed up a moment ago (a double submit): answer as for a taken one
        db.session.rollback()
        return None
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
    check_password_strength(new, "new_password", email=user.email)
    before = user.password_changed_at
    set_password(user, new)
    audit.record(
        "account.password_changed",
        target=user,
        before={"password_changed_at": before},
        after={"password_changed_at": user.password_changed_at},
        actor=user,
    )
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


def token_days(days) -> int:
    """A token's life in days: API_TOKEN_DEFAULT_DAYS when not given, else 1 to API_TOKEN_MAX_DAYS."""
    longest = int(current_app.config["API_TOKEN_MAX_DAYS"])
    if days is None or days == "":
        return min(int(current_app.config["API_TOKEN_DEFAULT_DAYS"]), longest)
    try:
        value = int(days)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= longest:
        raise ValidationFailed("Invalid token life.", {"days": f"Choose a whole number of days from 1 to {longest}."})
    return value


def create_api_token(
    user: User, name: str = "token", *, scope: str = TokenScope.write.value, days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token with a scope ("read": GET only; "write": everything the user may do) that expires after
    ``days`` (default API_TOKEN_DEFAULT_DAYS, at most API_TOKEN_MAX_DAYS). The plain text is returned once and
    never stored."""
    if scope not in {s.value for s in TokenScope}:
        raise ValidationFailed("Invalid token scope.", {"scope": "Choose read or write."})
    life = token_days(days)
    now = utcnow()
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=(name or "token").strip()[:100] or "token",
        scope=scope,
        created_at=now,
        expires_at=now + timedelta(days=life),
        token_digest=_digest(plain),
        prefix=plain[:12],
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "token.created",
        target=token,
        target_label=f"{token.name} ({token.prefix}…) of {user.email}",
        after={"scope": scope, "expires_at": token.expires_at},
    )
    return token, plain


def find_api_token(plain: str | None) -> ApiToken | None:
    """The token with this plain text, in any state (revoked, expired), or None."""
    if not plain or not plain.startswith(TOKEN_PREFIX):
        return None
    return db.session.scalar(select(ApiToken).where(ApiToken.token_digest == _digest(plain)))


def api_token_problem(token: ApiToken | None) -> str | None:
    """Why ``token`` may not be used now ("unknown", "revoked", "expired", "inactive"), or None when it may."""
    if token is None:
        return "unknown"
    if token.revoked_at is not None:
        return "revoked"
    if not token.is_usable(utcnow()):
        return "expired"
    if not token.user.is_active:
        return "inactive"
    return None


def touch_api_token(token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        token.last_used_at = now  # coarse, to avoid a write per request


def user_for_token(plain: str) -> User | None:
    """The user a usable token (not revoked, not expired, active account) belongs to, or None."""
    token = find_api_token(plain)
    if api_token_problem(token) is not None:
        return None
    touch_api_token(token)
    return token.user


def revoke_api_token(user: User, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    audit.record("token.revoked", target=token, target_label=f"{token.name} ({token.prefix}…) of {user.email}")
    db.session.flush()
