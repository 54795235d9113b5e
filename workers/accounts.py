"""Account emails (outbox kinds ``notify.account_*``, written by ``portal.services.account_flows``).

Payloads never hold a link's token: account_verify / account_reset / account_email_change {link_id} — the handler
recomputes the token from the link row to build the URL, and sends nothing once the link is used, superseded or
expired (a newer link has its own message); account_email_changing {user_id, link_id, old_email, new_email} and
account_email_changed {user_id, old_email, new_email} tell the old address; account_address_in_use {user_id, asked}
tells an address's owner that someone tried to sign up with it (or use it); account_no_account {email, asked}
answers a reset or resend request for an address without account; account_join_request {user_id,
organization_id} goes to the organization's admins; account_join_decided {user_id, organization_id, approved}
to the person. These emails are not optional (no notification preference applies). Each sends once per outbox row
and recipient (``senders.deliver_once``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template, url_for

from portal.extensions import db
from portal.models import AccountLink, LinkPurpose, Organization, User, utcnow
from portal.services import account_flows
from workers import senders
from workers.registry import handler
from workers.runner import PermanentFailure


def _url(endpoint: str, **values: Any) -> str:
    with current_app.test_request_context(base_url=current_app.config["PORTAL_URL"]):
        return url_for(endpoint, _external=True, **values)


def _when(value: datetime, user: User | None) -> str:
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo((user.timezone if user else None) or "UTC")
    except Exception:
        zone = UTC
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _send(message_id: int, kind: str, to: str, template: str, subject: str, **context: Any) -> bool:
    """Render ``email/<template>.txt|.html`` and send it to ``to`` once for this outbox row."""
    digest = hashlib.sha1(to.lower().encode()).hexdigest()[:10]
    mid = f"<{kind.replace('.', '-')}.{message_id}.{digest}@{senders.mail_domain()}>"
    context.setdefault("name", None)

    def send() -> str:
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
        return senders.send_email(senders.build_email(to, subject, text, html, message_id=mid))

    return senders.deliver_once(message_id, "email", to, send)


def _usable_link(payload: dict[str, Any], purpose: LinkPurpose) -> AccountLink | None:
    link = db.session.get(AccountLink, int(payload["link_id"]))
    if link is None or LinkPurpose(link.purpose) is not purpose:
        raise PermanentFailure(f"account link {payload.get('link_id')} does not exist")
    if link.used_at is not None or link.expires_at <= utcnow() or not link.user.is_active_account:
        return None  # used, superseded or expired before this ran: nothing to send
    return link


def _user(user_id: Any) -> User:
    user = db.session.get(User, int(user_id)) if user_id else None
    if user is None:
        raise PermanentFailure(f"user {user_id} does not exist")
    return user


# --------------------------------------------------------------------------- links


@handler("notify.account_verify")
def account_verify(payload: dict[str, Any], message_id: int) -> None:
    link = _usable_link(payload, LinkPurpose.verify_email)
    if link is None or link.user.is_verified:
        return
    user = link.user
    _send(
        message_id,
        "notify.account_verify",
        user.email,
        "account_verify",
        "Confirm your email address",
        name=user.name,
        url=_url("auth.verify_email", token=account_flows.token_for(link)),
        expires=_when(link.expires_at, user),
    )


@handler("notify.account_reset")
def account_reset(payload: dict[str, Any], message_id: int) -> None:
    link = _usable_link(payload, LinkPurpose.reset_password)
    if link is None:
        return
    user = link.user
    _send(
        message_id,
        "notify.account_reset",
        user.email,
        "account_reset",
        "Reset your password",
        name=user.name,
        url=_url("auth.reset_password", token=account_flows.token_for(link)),
        expires=_when(link.expires_at, user),
        forgot_url=_url("auth.forgot_password"),
    )


@handler("notify.account_email_change")
def account_email_change(payload: dict[str, Any], message_id: int) -> None:
    link = _usable_link(payload, LinkPurpose.change_email)
    if link is None or not link.new_email:
        return
    user = link.user
    _send(
        message_id,
        "notify.account_email_change",
        link.new_email,
        "account_email_change",
        "Confirm your new email address",
        name=user.name,
        old_email=user.email,
        new_email=link.new_email,
        url=_url("auth.confirm_email_change", token=account_flows.token_for(link)),
        expires=_when(link.expires_at, user),
    )


# --------------------------------------------------------------------------- notices


@handler("notify.account_email_changing")
def account_email_changing(payload: dict[str, Any], message_id: int) -> None:
    user = _user(payload.get("user_id"))
    old = payload.get("old_email") or user.email
    _send(
        message_id,
        "notify.account_email_changing",
        old,
        "account_email_changing",
        "Your email address is being changed",
        name=user.name,
        new_email=payload.get("new_email", ""),
        profile_url=_url("auth.profile"),
        forgot_url=_url("auth.forgot_password"),
    )


@handler("notify.account_email_changed")
def account_email_changed(payload: dict[str, Any], message_id: int) -> None:
    user = _user(payload.get("user_id"))
    _send(
        message_id,
        "notify.account_email_changed",
        payload["old_email"],
        "account_email_changed",
        "Your email address was changed",
        name=user.name,
        new_email=payload.get("new_email", ""),
    )


@handler("notify.account_address_in_use")
def account_address_in_use(payload: dict[str, Any], message_id: int) -> None:
    user = _user(payload.get("user_id"))
    _send(
        message_id,
        "notify.account_address_in_use",
        user.email,
        "account_address_in_use",
        "About your ESG Support account",
        name=user.name,
        asked=payload.get("asked", "signup"),
        login_url=_url("auth.login"),
        forgot_url=_url("auth.forgot_password"),
    )


@handler("notify.account_no_account")
def account_no_account(payload: dict[str, Any], message_id: int) -> None:
    address = payload.get("email") or ""
    if not address:
        raise PermanentFailure("no address")
    _send(
        message_id,
        "notify.account_no_account",
        address,
        "account_no_account",
        "About your request to ESG Support",
        email=address,
        asked=payload.get("asked", "reset"),
        signup_url=_url("auth.signup"),
    )


# --------------------------------------------------------------------------- organization joins


@handler("notify.account_join_request")
def account_join_request(payload: dict[str, Any], message_id: int) -> None:
    user = _user(payload.get("user_id"))
    if user.requested_organization_id != payload.get("organization_id") or user.organization_id is not None:
        return  # decided before this ran
    organization = db.session.get(Organization, int(payload["organization_id"]))
    for admin in account_flows.org_admins(organization.id if organization else None):
        _send(
            message_id,
            "notify.account_join_request",
            admin.email,
            "account_join_request",
            f"{user.name} asks to join {organization.name}",
            name=admin.name,
            person=user,
            organization=organization,
            members_url=_url("customer.organization_members"),
        )


@handler("notify.account_join_decided")
def account_join_decided(payload: dict[str, Any], message_id: int) -> None:
    user = _user(payload.get("user_id"))
    organization = db.session.get(Organization, int(payload["organization_id"]))
    approved = bool(payload.get("approved"))
    name = organization.name if organization else "the organization"
    _send(
        message_id,
        "notify.account_join_decided",
        user.email,
        "account_join_decided",
        f"You joined {name}" if approved else f"Your request to join {name}",
        name=user.name,
        organization_name=name,
        approved=approved,
        portal_url=_url("customer.home"),
    )
