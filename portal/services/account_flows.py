"""Account flows by email: verified sign-up, joining an organization, password reset and email change.

Every flow mails a single-use, expiring link (``AccountLink``). The token in a link is
``"<link id>.<HMAC-SHA256(SECRET_KEY, account-link:<id>:<user id>:<purpose>:<created at>)>"``; the database keeps
only its SHA-256 digest and the outbox payload only the link's id (the worker recomputes the token to build the
URL), so neither a database dump nor the outbox gives a working link. A link is refused once used, expired or
superseded (a newer link of the same purpose, a password change or an address change marks it used).

Answers to the public forms never tell whether an address has an account: sign-up, "forgot password" and
"resend the confirmation" each write one outbox row whatever the address (a notice to the real owner, or to an
address without account), and sign-up hashes the password either way. Like the other services: validate, flush,
never commit (the request boundary does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from portal.extensions import db
from portal.models import AccountLink, JoinPolicy, LinkPurpose, Organization, Role, User, utcnow
from portal.services import accounts, audit, outbox, sessions, throttle
from portal.services.errors import Forbidden, NotFound, ServiceError, ValidationFailed

_LINK_ID = re.compile(r"[0-9]{1,12}")  # ASCII digits only, never beyond the id column
LINK_REFUSED = "This link has expired or was already used — ask for a new one."
ADDRESS_TAKEN = "That address now belongs to another account, so your address was not changed."


class LinkRefused(ServiceError):
    """An account link that is unknown, forged, expired, used or superseded."""

    status_code = 410
    code = "link_expired"

    def __init__(self, purpose: LinkPurpose, message: str = LINK_REFUSED):
        super().__init__(message)
        self.purpose = purpose


class AddressTaken(ServiceError):
    """The new address of an email change belongs to another account by the time the link is followed."""

    status_code = 409
    code = "address_taken"


class Throttled(ServiceError):
    status_code = 429
    code = "throttled"

    def __init__(self, retry_after: int):
        minutes = max(1, round(retry_after / 60))
        super().__init__(f"Too many requests. Please try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        self.retry_after = retry_after


# --------------------------------------------------------------------------- links


def link_lifetime(purpose: LinkPurpose) -> timedelta:
    config = current_app.config
    if purpose is LinkPurpose.reset_password:
        return timedelta(minutes=int(config["PASSWORD_RESET_MINUTES"]))
    return timedelta(hours=int(config["EMAIL_VERIFY_HOURS"]))


def _signature(link: AccountLink) -> str:
    created = link.created_at.isoformat()
    message = f"account-link:{link.id}:{link.user_id}:{LinkPurpose(link.purpose).value}:{created}"
    mac = hmac.new(current_app.config["SECRET_KEY"].encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_for(link: AccountLink) -> str:
    """The link's token, recomputed from the row (the worker builds the emailed URL with it)."""
    return f"{link.id}.{_signature(link)}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(user: User, purpose: LinkPurpose, *, new_email: str | None = None) -> AccountLink:
    """A new link for ``user``; older unused links of the same purpose stop working."""
    now = utcnow().replace(microsecond=0)  # the signature covers created_at: keep it exact in every database
    _retire(user, [purpose], now)
    link = AccountLink(
        user_id=user.id,
        purpose=purpose,
        digest=secrets.token_hex(32),  # placeholder until the id (part of the token) is known
        new_email=new_email,
        created_at=now,
        expires_at=now + link_lifetime(purpose),
    )
    db.session.add(link)
    db.session.flush()
    link.digest = _digest(token_for(link))
    db.session.flush()
    return link


def _retire(user: User, purposes: list[LinkPurpose], now: datetime | None = None) -> None:
    """Mark the user's unused links of these purposes used."""
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == user.id, AccountLink.purpose.in_(purposes), AccountLink.used_at.is_(None))
        .values(used_at=now or utcnow())
        .execution_options(synchronize_session="fetch")
    )


def resolve_link(token: str, purpose: LinkPurpose, *, now: datetime | None = None) -> AccountLink:
    """The usable link behind ``token``, or LinkRefused (the same refusal for forged, expired, used, superseded)."""
    link_id, _, signature = (token or "").partition(".")
    if not _LINK_ID.fullmatch(link_id) or not signature or len(token) > 200:
        raise LinkRefused(purpose)
    link = db.session.get(AccountLink, int(link_id))
    if link is None or LinkPurpose(link.purpose) is not purpose:
        raise LinkRefused(purpose)
    expected = token_for(link)
    if not (hmac.compare_digest(token, expected) and hmac.compare_digest(_digest(token), link.digest)):
        raise LinkRefused(purpose)
    if link.used_at is not None or link.expires_at <= (now or utcnow()):
        raise LinkRefused(purpose)
    user = link.user
    if user is None or not user.is_active_account:
        raise LinkRefused(purpose)
    return link


def _consume(link: AccountLink, now: datetime) -> None:
    """Use the link up, exactly once: of two requests racing with the same link, one wins and the other is refused."""
    used = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise LinkRefused(LinkPurpose(link.purpose))
    link.used_at = now


def peek_link(token: str, purpose: LinkPurpose) -> AccountLink | None:
    """The usable link behind ``token`` or None (for showing a page before its form is sent)."""
    try:
        return resolve_link(token, purpose)
    except LinkRefused:
        return None


def _throttle(kind: str, *keys: str) -> None:
    """Count one request under every key; refuse (429) when any of them is over its limit."""
    waits = [throttle.retry_after(kind, key) for key in keys]
    blocked = [w for w in waits if w]
    if blocked:
        raise Throttled(max(blocked))
    for key in keys:
        throttle.hit(kind, key)


# --------------------------------------------------------------------------- sign-up and verification


def sign_up(*, name: str, email: str, password: str, timezone: str = "UTC", client: str = "") -> User | None:
    """Self sign-up (see ``accounts.register_customer``) and the one email it sends: the confirmation link to a
    new account, or a notice "someone tried to sign up with your address" to the owner of a taken one (an
    unverified owner gets a fresh confirmation link instead). Returns the new user, or None for a taken address."""
    _throttle("signup_address", f"ip:{client}")
    user = accounts.register_customer(name=name, email=email, password=password, timezone=timezone)
    if user is None:
        owner = accounts.find_user_by_email(accounts.normalize_email(email))
        if owner is not None and not owner.is_verified and owner.is_active_account:
            _send_verification(owner)
        elif owner is not None:
            outbox.emit("notify.account_address_in_use", {"user_id": owner.id, "asked": "signup"})
        return None
    audit.record(
        "account.signup",
        target=user,
        before={},
        after={
            "email": user.email,
            "is_approved": user.is_approved,
            "requested_organization_id": user.requested_organization_id,
        },
        actor=None,
    )
    _send_verification(user)
    return user


def _send_verification(user: User) -> AccountLink:
    link = issue_link(user, LinkPurpose.verify_email)
    outbox.emit("notify.account_verify", {"link_id": link.id})
    return link


def resend_verification(email: str, *, client: str = "") -> None:
    """Send the confirmation link again: throttled per address and per client; the same answer whatever the address
    (an unverified account gets a new link, a verified one a reminder to sign in, an unknown address a notice)."""
    address = accounts.normalize_email(email)
    _throttle("verify_resend", f"addr:{address}", f"ip:{client}")
    user = accounts.find_user_by_email(address)
    if user is not None and user.is_active_account and not user.is_verified:
        _send_verification(user)
    elif user is not None and user.is_active_account:
        outbox.emit("notify.account_address_in_use", {"user_id": user.id, "asked": "verify"})
    else:
        outbox.emit("notify.account_no_account", {"email": address, "asked": "verify"})


def verify_email(token: str) -> User:
    """Follow a confirmation link: the address is proven; the account joins the organization it asked for when
    that organization takes verified addresses automatically (else the request waits for an approval)."""
    link = resolve_link(token, LinkPurpose.verify_email)
    user = link.user
    now = utcnow()
    _consume(link, now)
    _mark_verified(user, now)
    db.session.flush()
    if user.requested_organization_id is not None and user.organization_id is None:
        _announce_join_request(user)
    return user


def _mark_verified(user: User, now: datetime) -> None:
    """Set the address verified (once) and, for an automatic organization, join it; one ``account.verified`` row."""
    if user.email_verified_at is not None:
        return
    before = _join_state(user)
    user.email_verified_at = now
    org = user.requested_organization
    if org is not None and org.join_policy == JoinPolicy.automatic.value and user.organization_id is None:
        _join(user, org)
    audit.record("account.verified", target=user, before=before, after=_join_state(user), actor=user)


def _join(user: User, organization: Organization) -> None:
    """The account joins ``organization`` (ids and relationships alike, so both read the same before a flush)."""
    user.organization, user.organization_id = organization, organization.id
    user.requested_organization, user.requested_organization_id = None, None


def _join_state(user: User) -> dict:
    return {
        "email_verified_at": user.email_verified_at,
        "organization_id": user.organization_id,
        "requested_organization_id": user.requested_organization_id,
    }


def _announce_join_request(user: User) -> None:
    admins = org_admins(user.requested_organization_id)
    if admins:
        outbox.emit(
            "notify.account_join_request",
            {"user_id": user.id, "organization_id": user.requested_organization_id},
            dedupe_key=f"join-request:{user.id}:{user.requested_organization_id}",
        )


# --------------------------------------------------------------------------- organization joins


def org_admins(organization_id: int | None) -> list[User]:
    if organization_id is None:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.organization_id == organization_id,
                User.is_org_admin.is_(True),
                User.role == Role.customer,
                User.is_active_account.is_(True),
            )
            .order_by(User.id)
        )
    )


def can_decide_joins(actor: User, organization: Organization) -> bool:
    """Admins and managers decide every organization's joins; an organization admin those of their own."""
    if not actor.is_active:
        return False
    if actor.role in (Role.admin, Role.manager):
        return True
    return actor.is_customer and actor.is_org_admin and actor.organization_id == organization.id


def organization_members(organization: Organization) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.organization_id == organization.id).order_by(func.lower(User.name), User.id)
        )
    )


def pending_joins(organization: Organization) -> list[User]:
    """Verified accounts waiting to join ``organization``, oldest first."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.requested_organization_id == organization.id,
                User.organization_id.is_(None),
                User.email_verified_at.is_not(None),
                User.is_active_account.is_(True),
            )
            .order_by(User.created_at, User.id)
        )
    )


def decide_join(actor: User, organization: Organization, user_id: int, *, approve: bool) -> User:
    """Approve (the account joins and sees the organization's tickets) or refuse a waiting join; the person is
    told by email. One audit row."""
    if not can_decide_joins(actor, organization):
        raise Forbidden("Only an admin or an admin of this organization decides who joins it.")
    user = db.session.get(User, user_id)
    if user is None or user.requested_organization_id != organization.id or user not in pending_joins(organization):
        raise NotFound("No such request to join this organization (it may have been decided already).")
    before = {"organization_id": user.organization_id, "requested_organization_id": user.requested_organization_id}
    if approve:
        _join(user, organization)
    else:
        user.requested_organization, user.requested_organization_id = None, None
    after = {"organization_id": organization.id if approve else None, "requested_organization_id": None}
    audit.record(
        "organization.join_approved" if approve else "organization.join_refused",
        target=user,
        before=before,
        after=after,
        detail=organization.name,
        actor=actor,
    )
    db.session.flush()
    outbox.emit(
        "notify.account_join_decided",
        {"user_id": user.id, "organization_id": organization.id, "approved": bool(approve)},
    )
    return user


def set_join_policy(organization: Organization, policy: str) -> None:
    try:
        organization.join_policy = JoinPolicy(policy).value
    except ValueError:
        raise ValidationFailed("Choose how people join.", {"join_policy": "Choose automatic or approval."}) from None


# --------------------------------------------------------------------------- password reset


def request_password_reset(email: str, *, client: str = "") -> None:
    """Forgot password: throttled per address asked for and per client; the same answer whatever the address
    (an active account gets a reset link, anything else a notice that no account uses the address)."""
    address = accounts.normalize_email(email)
    _throttle("reset_account", f"addr:{address}")
    _throttle("reset_address", f"ip:{client}")
    user = accounts.find_user_by_email(address)
    if user is not None and user.is_active_account:
        link = issue_link(user, LinkPurpose.reset_password)
        outbox.emit("notify.account_reset", {"link_id": link.id})
    else:
        outbox.emit("notify.account_no_account", {"email": address, "asked": "reset"})


def reset_password(token: str, new_password: str, field: str = "password") -> User:
    """Set a new password from a reset link. Following the link proves the address too."""
    link = resolve_link(token, LinkPurpose.reset_password)
    user = link.user
    accounts.check_password_strength(new_password, field, email=user.email)
    before = {"password_changed_at": user.password_changed_at}
    now = utcnow()
    _consume(link, now)
    _mark_verified(user, now)
    accounts.set_password(user, new_password)  # marks every other reset link used
    audit.record(
        "account.password_reset",
        target=user,
        before=before,
        after={"password_changed_at": user.password_changed_at},
        actor=user,
    )
    db.session.flush()
    sessions.end_all(user, reason="password reset by email")  # whoever knew the old password is signed out
    throttle.clear("login_account", user.email)  # a locked-out owner who proved the address may sign in again
    if user.requested_organization_id is not None and user.organization_id is None:
        _announce_join_request(user)
    return user


# --------------------------------------------------------------------------- email change


def request_email_change(user: User, new_email: str, password: str) -> str:
    """Mail a confirmation link to the new address (the address changes only when it is followed) and tell the
    old one. Returns the normalized new address. A taken address gets the same answer; its owner is told."""
    errors: dict[str, str] = {}
    if not check_password_hash(user.password_hash, password or ""):
        errors["current_password"] = "This is not your current password."
    try:
        address = accounts.normalize_email(new_email)
    except ValidationFailed as exc:
        errors["new_email"] = exc.fields.get("email", "Invalid email address.")
        address = ""
    if address and address == user.email.lower():
        errors["new_email"] = "This is already your address."
    if errors:
        raise ValidationFailed("The address was not changed.", errors)
    _throttle("verify_resend", f"change:{user.id}")
    owner = accounts.find_user_by_email(address)
    if owner is not None:
        outbox.emit("notify.account_address_in_use", {"user_id": owner.id, "asked": "change"})
        return address
    link = issue_link(user, LinkPurpose.change_email, new_email=address)
    outbox.emit("notify.account_email_change", {"link_id": link.id})
    outbox.emit(
        "notify.account_email_changing",
        {"user_id": user.id, "link_id": link.id, "old_email": user.email, "new_email": address},
    )
    return address


def pending_email_change(user: User) -> AccountLink | None:
    return db.session.scalar(
        select(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == LinkPurpose.change_email,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > utcnow(),
        )
        .order_by(AccountLink.id.desc())
        .limit(1)
    )


def confirm_email_change(token: str) -> User:
    """Follow the link mailed to the new address: the account's address changes (if it is still free), is
    verified, and every other outstanding link (mailed to the old address) stops working; the old one is told."""
    link = resolve_link(token, LinkPurpose.change_email)
    user = link.user
    new = (link.new_email or "").lower()
    taken = db.session.scalar(select(User.id).where(func.lower(User.email) == new, User.id != user.id))
    if not new or taken is not None:
        raise AddressTaken(ADDRESS_TAKEN)
    old, now = user.email, utcnow()
    _consume(link, now)
    user.email = new
    user.email_verified_at = user.email_verified_at or now
    _retire(user, list(LinkPurpose), now)
    audit.record("account.email_changed", target=user, before={"email": old}, after={"email": new}, actor=user)
    try:
        db.session.flush()
    except IntegrityError:  # taken by a concurrent sign-up or change since the check above
        db.session.rollback()
        raise AddressTaken(ADDRESS_TAKEN) from None
    outbox.emit("notify.account_email_changed", {"user_id": user.id, "old_email": old, "new_email": new})
    return user
