"""Who the platform says its user is, and the portal account that answers for them.

The platform signs its user one of two ways (the site's ``identity_mode`` says which it may use):

* a JWT, HS256 only, whose header ``kid`` names one of the site's unrevoked keys, with the claims ``email``,
  ``exp`` and ``iat`` (``name``, ``external_id`` and ``organization`` optional). It must not be older than
  ``WIDGET_IDENTITY_MAX_AGE_SECONDS`` (by ``iat``) nor expired; both allow ``WIDGET_CLOCK_SKEW_SECONDS`` of clock
  difference between the platform and us;
* an HMAC-SHA256 of the email with a key's secret, as hex (``data-email``, ``data-user-hash``, ``data-kid``). It
  carries no time, so it lasts as long as the key: rotate keys to end old hashes.

Nothing unsigned is ever believed: an email without a signature makes an anonymous visitor. A verified identity
maps to an account the way a mailed-in ticket does: the existing customer with that address, else a new customer
account (no usable password) in the organization owning the address's domain. Staff addresses are refused: the
widget never acts as staff, whatever the platform signs.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt
from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import JoinPolicy, Role, User
from portal.models.widget import WidgetSite
from portal.services.accounts import UNUSABLE_PASSWORD, find_user_by_email, normalize_email, organization_for_domain
from portal.services.errors import ValidationFailed
from portal.services.widget import sessions
from portal.services.widget.sites import secret_by_kid

MAX_TOKEN_LENGTH = 4096


class IdentityRefused(Exception):
    """The identity cannot be accepted; ``message`` is shown to the visitor, ``code`` is for the platform's
    developers (and the tests)."""

    def __init__(self, code: str, message: str, status: int = 401):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class SignedIdentity:
    email: str
    name: str
    kid: str
    method: str  # "jwt" or "hmac"
    external_id: str | None = None
    organization: str | None = None


@dataclass(frozen=True)
class Exchange:
    """What the frame gets for what the platform sent: a session token and its user, or an anonymous visitor."""

    token: str | None
    user: User | None


def _refuse(code: str, message: str = "The sign-in the platform sent could not be verified.") -> IdentityRefused:
    return IdentityRefused(code, message)


def _text(value, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int):
        return None
    return " ".join(str(value).split())[:limit] or None


def verify(site: WidgetSite, data: dict) -> SignedIdentity | None:
    """The identity signed in ``data`` (the frame's request body), None when nothing was signed (an anonymous
    visitor), or ``IdentityRefused``."""
    token = data.get("jwt")
    user_hash = data.get("user_hash")
    if token:
        if site.identity_mode not in ("jwt", "both"):
            raise _refuse("mode", "This site does not accept signed tokens (JWT); ask the platform's administrator.")
        return _verify_jwt(site, token)
    if user_hash:
        if site.identity_mode not in ("hmac", "both"):
            raise _refuse("mode", "This site does not accept email hashes; ask the platform's administrator.")
        return _verify_hmac(site, data.get("email"), user_hash, data.get("kid"))
    return None


def _verify_jwt(site: WidgetSite, token) -> SignedIdentity:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise _refuse("malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _refuse("malformed") from exc
    if header.get("alg") != "HS256":  # never "none", never a public-key algorithm fed our secret
        raise _refuse("algorithm")
    key = secret_by_kid(site, header.get("kid"))
    if key is None:
        raise _refuse("unknown_key")
    skew = current_app.config["WIDGET_CLOCK_SKEW_SECONDS"]
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=["HS256"],
            leeway=skew,
            options={"require": ["exp", "iat", "email"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _refuse("expired", "The sign-in has expired; reload the page.") from exc
    except jwt.ImmatureSignatureError as exc:  # iat or nbf beyond our clock plus the skew
        raise _refuse("not_yet_valid", "The sign-in is dated in the future; check the platform's clock.") from exc
    except jwt.PyJWTError as exc:
        raise _refuse("bad_signature") from exc
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise _refuse("malformed")
    now = time.time()
    if iat > now + skew:
        raise _refuse("not_yet_valid", "The sign-in is dated in the future; check the platform's clock.")
    if now - iat > current_app.config["WIDGET_IDENTITY_MAX_AGE_SECONDS"] + skew:
        raise _refuse("expired", "The sign-in has expired; reload the page.")
    email = claims.get("email")
    if not isinstance(email, str):
        raise _refuse("malformed")
    return SignedIdentity(
        email=email,
        name=_text(claims.get("name"), 200) or "",
        kid=key.kid,
        method="jwt",
        external_id=_text(claims.get("external_id"), 200),
        organization=_text(claims.get("organization"), 200),
    )


def hmac_of(secret: str, email: str) -> str:
    """What the platform computes: hex HMAC-SHA256 of the email exactly as it puts it in ``data-email``."""
    return hmac.new(secret.encode(), email.encode(), hashlib.sha256).hexdigest()


def _verify_hmac(site: WidgetSite, email, user_hash, kid) -> SignedIdentity:
    if not isinstance(email, str) or not email or len(email) > 254 or not isinstance(user_hash, str):
        raise _refuse("malformed")
    key = secret_by_kid(site, kid)
    if key is None:
        raise _refuse("unknown_key")
    if not hmac.compare_digest(hmac_of(key.secret, email), user_hash.strip().lower()):
        raise _refuse("bad_signature")
    return SignedIdentity(email=email, name="", kid=key.kid, method="hmac")


def account_for(identity: SignedIdentity, *, name: str = "") -> User:
    """The customer account a verified identity stands for (made when the address is new)."""
    try:
        address = normalize_email(identity.email)
    except ValidationFailed as exc:
        raise IdentityRefused("invalid_email", "The platform sent an email address that is not valid.", 422) from exc
    user = find_user_by_email(address)
    if user is not None:
        if user.is_staff:
            raise IdentityRefused(
                "staff", "Staff accounts cannot use the support widget; sign in to the portal instead.", 403
            )
        if not user.is_active:
            raise IdentityRefused("inactive", "This account is disabled or waits for approval.", 403)
        return user
    display = (identity.name or name or address.partition("@")[0])[:200]
    org = organization_for_domain(address)
    approval = org is not None and org.join_policy == JoinPolicy.approval.value
    user = User(
        email=address,
        name=display,
        # No password: the account signs in to the portal only after a password reset proves the address.
        password_hash=UNUSABLE_PASSWORD,
        role=Role.customer,
        # Ids, not relationships: the row joins the session only inside the savepoint below.
        organization_id=None if approval or org is None else org.id,
        requested_organization_id=org.id if approval else None,
        specializations=[],
        email_verified_at=None,
        is_approved=True,
    )
    try:
        with db.session.begin_nested():  # two first visits at once: the second finds the first one's account
            db.session.add(user)
    except IntegrityError:
        user = find_user_by_email(address)
        if user is None or user.is_staff or not user.is_active:
            raise IdentityRefused("inactive", "This account cannot use the support widget.", 403) from None
    return user


def exchange(site: WidgetSite, data: dict) -> Exchange:
    """The frame's request for a widget session: verify what the platform signed and issue the token.
    Verified-only sites refuse anonymous visitors."""
    identity = verify(site, data)
    if identity is None:
        if site.verified_only:
            raise IdentityRefused(
                "not_signed", "This help widget is for signed-in users of the platform. Sign in there first."
            )
        return Exchange(token=None, user=None)
    user = account_for(identity, name=_text(data.get("name"), 200) or "")
    return Exchange(token=sessions.issue(site.id, user.id, verified=True), user=user)
