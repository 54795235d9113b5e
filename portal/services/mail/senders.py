"""Who is writing: the known user behind a From address, a new customer account for an address at an
organization's domain or (per ``MAIL_UNKNOWN_SENDERS``) any unknown address, or why the message must wait in
quarantine. A staff address alone proves nothing (From is easy to forge): the pipeline asks for the staff member's
signed reply token before it lets such a mail act as staff."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import JoinPolicy, Role, TicketParticipant, User
from portal.services.accounts import UNUSABLE_PASSWORD, find_user_by_email, organization_for_domain


@dataclass
class Sender:
    user: User | None
    reason: str = ""  # a quarantine reason when user is None
    detail: str = ""  # what was decided, in words (e.g. "a new customer account, joining Acme on approval")
    created: bool = False


def _new_customer(address: str, name: str, *, organization=None, requested=None) -> User:
    user = User(
        email=address,
        name=(name or address.partition("@")[0])[:200],
        # no password: the account signs in only after a password reset proves the address
        password_hash=UNUSABLE_PASSWORD,
        role=Role.customer,
        organization=organization,
        requested_organization=requested,
        specializations=[],
        email_verified_at=None,
        is_approved=True,
    )
    db.session.add(user)
    db.session.flush()
    return user


def _is_participant(address: str) -> bool:
    found = db.session.scalar(select(TicketParticipant.id).where(TicketParticipant.email == address).limit(1))
    return found is not None


def resolve(address: str, name: str, *, accept_unknown: bool = False) -> Sender:
    """The user for ``address`` (already validated and lower-cased). ``accept_unknown`` (an admin's release)
    files an unknown sender even when ``MAIL_UNKNOWN_SENDERS`` says quarantine."""
    user = find_user_by_email(address)
    if user is not None:
        if not user.is_active_account:
            return Sender(None, "sender_inactive", f"{address} belongs to a disabled account.")
        if not user.is_approved:
            return Sender(None, "sender_inactive", f"{address} belongs to an account that waits for approval.")
        return Sender(user, detail=f"Known {'staff member' if user.is_staff else 'customer'} {address}.")
    org = organization_for_domain(address)
    if org is not None:
        if org.join_policy == JoinPolicy.approval.value:
            user = _new_customer(address, name, requested=org)
            return Sender(
                user,
                detail=(
                    f"New customer account for {address}; joining {org.name} waits for approval, so the ticket "
                    "has no organization until then."
                ),
                created=True,
            )
        user = _new_customer(address, name, organization=org)
        return Sender(
            user, detail=f"New customer account for {address} in {org.name} (its email domain).", created=True
        )
    if (
        current_app.config.get("MAIL_UNKNOWN_SENDERS", "accept") == "quarantine"
        and not accept_unknown
        and not _is_participant(address)  # a customer copied them on a ticket: their reply-all is expected
    ):
        return Sender(None, "unknown_sender", f"{address} is no user and its domain belongs to no organization.")
    user = _new_customer(address, name)
    return Sender(user, detail=f"New unverified customer account for {address}, without organization.", created=True)
