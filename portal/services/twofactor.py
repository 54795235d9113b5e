"""Two-factor authentication: TOTP secrets (RFC 6238, via pyotp), enrolment, single-use codes, recovery codes and
which roles must use it.

A secret is *pending* while ``User.totp_secret`` is set and ``totp_enabled_at`` is not (the enrolment page shows it
until a first code confirms it). A code is accepted for the current 30-second step or one step either side, and
never twice: the accepted step is stored in ``User.totp_last_step`` with a conditional UPDATE, so a code (or an
older one) replayed — even by a concurrent request — is refused. Recovery codes are ten single-use codes shown
once; only salted hashes are stored.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import STAFF_ROLES, RecoveryCode, Role, User, utcnow
from portal.services import audit
from portal.services.errors import Forbidden

RECOVERY_CODE_COUNT = 10
# Letters and digits that cannot be mistaken for one another (no 0/o, 1/l/i): 32 symbols, 60 bits per code.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUPS, _RECOVERY_GROUP_LENGTH = 3, 4
_CODE_RE = re.compile(r"^\d{6}$")
ALL_STAFF = "all-staff"


# --------------------------------------------------------------------------- policy


def required_roles(setting: str | None = None) -> frozenset[Role]:
    """The roles ``TWO_FACTOR_REQUIRED_ROLES`` names (comma-separated role values; "all-staff": every staff role)."""
    if setting is None:
        setting = current_app.config.get("TWO_FACTOR_REQUIRED_ROLES") or ""
    roles: set[Role] = set()
    for part in setting.split(","):
        part = part.strip().lower()
        if part == ALL_STAFF:
            roles |= STAFF_ROLES
        elif part:
            try:
                roles.add(Role(part))
            except ValueError:
                current_app.logger.warning("TWO_FACTOR_REQUIRED_ROLES: unknown role %r ignored", part)
    return frozenset(roles)


def is_required(user: User) -> bool:
    return user.role in required_roles()


def needs_enrolment(user: User) -> bool:
    """Signed in with a password only although the role requires a second factor."""
    return is_required(user) and not user.has_two_factor


# --------------------------------------------------------------------------- secrets and codes


def pending_secret(user: User) -> str:
    """The secret being set up (made and stored on first use); the enrolment page shows it until confirmed."""
    if user.has_two_factor:
        raise Forbidden("Two-factor authentication is already on.")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        db.session.flush()
    return user.totp_secret


def grouped(secret: str) -> str:
    """``ABCD EFGH ...``: easier to type into an authenticator app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URI (an <img> source; the CSP allows img-src data:)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


def _clean(code: str | None) -> str:
    return re.sub(r"[\s-]", "", code or "")


def looks_like_totp(code: str | None) -> bool:
    return bool(_CODE_RE.match(_clean(code)))


def matching_step(secret: str, code: str | None, *, for_time: float | None = None) -> int | None:
    """The time step (current, previous or next) whose code is ``code``, or None."""
    code = _clean(code)
    if not _CODE_RE.match(code) or not secret:
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time() if for_time is None else for_time)
    found = None
    for step in (now - 1, now, now + 1):  # compare all three, in constant time each
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def _accept_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: one atomic UPDATE, so two requests racing
    with the same code cannot both win."""
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    db.session.flush()
    return True


def verify_code(user: User, code: str | None) -> bool:
    """A current authenticator code for ``user``'s enabled second factor, never accepted twice."""
    if not user.has_two_factor:
        return False
    step = matching_step(user.totp_secret, code)
    return step is not None and _accept_step(user, step)


# --------------------------------------------------------------------------- recovery codes


def _normalize_recovery(code: str | None) -> str:
    return _clean(code).lower()


def looks_like_recovery_code(code: str | None) -> bool:
    value = _normalize_recovery(code)
    return len(value) == _RECOVERY_GROUPS * _RECOVERY_GROUP_LENGTH and all(c in _RECOVERY_ALPHABET for c in value)


def _new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
        for _ in range(_RECOVERY_GROUPS)
    )
    return "-".join(groups)


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    method = current_app.config["PASSWORD_HASH_METHOD"]
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.session.add(
            RecoveryCode(user_id=user.id, code_hash=generate_password_hash(_normalize_recovery(code), method=method))
        )
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


def use_recovery_code(user: User, code: str | None) -> bool:
    """Spend one unused recovery code (marked used atomically: a code works once, even for racing requests)."""
    if not user.has_two_factor or not looks_like_recovery_code(code):
        return False
    value = _normalize_recovery(code)
    rows = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in rows:
        if check_password_hash(row.code_hash, value):
            result = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return False
            audit.record("two_factor.recovery_used", target=user, actor=user, detail=f"{len(rows) - 1} left")
            return True
    return False


# --------------------------------------------------------------------------- enrolment and changes


def enable(user: User, code: str | None) -> list[str] | None:
    """Confirm the pending secret with a first code: two-factor is on. Returns the new recovery codes (shown once),
    or None when the code is wrong."""
    if user.has_two_factor or not user.totp_secret:
        return None
    step = matching_step(user.totp_secret, code)
    if step is None:
        return None
    user.totp_last_step = None
    db.session.flush()
    if not _accept_step(user, step):
        return None
    user.totp_enabled_at = utcnow()
    codes = _replace_recovery_codes(user)
    audit.record("two_factor.enabled", target=user, actor=user)
    return codes


def _turn_off(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()


def disable(user: User) -> None:
    """Turn two-factor off (the caller has checked the password and a current code)."""
    _turn_off(user)
    audit.record("two_factor.disabled", target=user, actor=user)


def regenerate_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes (the old ones stop working); the caller has checked a current code."""
    codes = _replace_recovery_codes(user)
    audit.record("two_factor.recovery_regenerated", target=user, actor=user)
    return codes


def reset(actor: User, user: User) -> None:
    """An admin turns off ``user``'s second factor (a lost phone and no recovery codes); they set it up again at
    their next sign-in if their role requires it."""
    from portal.services.admin import can_edit_user

    if actor.id == user.id:
        raise Forbidden("Turn your own two-factor authentication off from your profile page.")
    if not can_edit_user(actor, user):  # admins: everyone; managers: accounts below manager
        raise Forbidden("Only an admin can reset this account's two-factor authentication.")
    if not user.has_two_factor and not user.totp_secret:
        return
    _turn_off(user)
    audit.record("two_factor.reset", target=user, actor=actor)
