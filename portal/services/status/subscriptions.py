"""Email subscriptions to the status page: double opt-in and a signed one-click unsubscribe link.

Subscribing (a public form) answers the same whatever the address: one ``status.confirm`` outbox row either way
(a confirmation link for a new or not yet confirmed address, a "you are subscribed already, here is your link" for
a confirmed one). The confirmation token is ``"<subscriber id>.<HMAC(SECRET_KEY, status-confirm:id:email:sent at)>"``:
the row keeps only its SHA-256 digest and the outbox payload only the subscriber's id (the worker recomputes the
token), it works once (the digest is cleared) and expires after EMAIL_VERIFY_HOURS. A new request supersedes the
previous link (the sent instant, part of the signature, changes).

The unsubscribe / manage token is ``"<id>.<HMAC(SECRET_KEY, status-manage:id:email:created at)>"``: stable for a
subscription, so every notice carries a working link (List-Unsubscribe, RFC 8058 one-click POST).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Component, StatusSubscriber, utcnow
from portal.services import accounts, outbox, throttle
from portal.services.account_flows import Throttled
from portal.services.errors import ServiceError, ValidationFailed

_ID = re.compile(r"[0-9]{1,12}")
LINK_REFUSED = "This link has expired or was already used — subscribe again to get a new one."
# The per-client throttle reuses sign-up's limit (SIGNUP_RATE_LIMIT per client address), under its own keys.
THROTTLE_KIND = "signup_address"


class LinkRefused(ServiceError):
    status_code = 410
    code = "link_expired"


def _mac(message: str) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def confirm_token(subscriber: StatusSubscriber) -> str:
    sent = subscriber.confirm_sent_at.isoformat() if subscriber.confirm_sent_at else ""
    return f"{subscriber.id}.{_mac(f'status-confirm:{subscriber.id}:{subscriber.email}:{sent}')}"


def manage_token(subscriber: StatusSubscriber) -> str:
    created = subscriber.created_at.isoformat()
    return f"{subscriber.id}.{_mac(f'status-manage:{subscriber.id}:{subscriber.email}:{created}')}"


def _subscriber_for(token: str) -> StatusSubscriber | None:
    raw_id, _, signature = (token or "").partition(".")
    if not _ID.fullmatch(raw_id) or not signature or len(token) > 200:
        return None
    return db.session.get(StatusSubscriber, int(raw_id))


def confirm_lifetime() -> timedelta:
    return timedelta(hours=int(current_app.config["EMAIL_VERIFY_HOURS"]))


def _component_ids(all_components: bool, raw_ids) -> list[int]:
    if all_components:
        return []
    ids: set[int] = set()
    for raw in raw_ids or []:
        text = str(raw).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            raise ValidationFailed("Choose components from the list.", {"components": "Choose from the list."})
        ids.add(int(text))
    known = set(db.session.scalars(select(Component.id).where(Component.id.in_(ids), Component.is_active.is_(True))))
    if not ids or known != ids:
        raise ValidationFailed(
            "Choose the components you want to hear about.",
            {"components": "Choose at least one component from the list, or all components."},
        )
    return sorted(ids)


def subscribe(email: str, *, all_components: bool = True, component_ids=None, client: str = "") -> None:
    """The public form: throttled per client address; the same outcome whatever the address (one email)."""
    address = accounts.normalize_email(email)
    ids = _component_ids(all_components, component_ids)
    wait = throttle.retry_after(THROTTLE_KIND, f"status-ip:{client}")
    if wait:
        raise Throttled(wait)
    throttle.hit(THROTTLE_KIND, f"status-ip:{client}")
    now = utcnow().replace(microsecond=0)  # part of the signature: exact in every database
    subscriber = db.session.scalar(select(StatusSubscriber).where(StatusSubscriber.email == address))
    if subscriber is not None and subscriber.confirmed_at is not None and subscriber.unsubscribed_at is None:
        # subscribed already: the owner gets their manage link; nothing changes without it
        outbox.emit("status.confirm", {"subscriber_id": subscriber.id, "already": True})
        return
    if subscriber is None:
        subscriber = StatusSubscriber(email=address, created_at=now)
        db.session.add(subscriber)
    subscriber.all_components = bool(all_components)
    subscriber.component_ids = ids
    subscriber.confirmed_at = None
    subscriber.unsubscribed_at = None
    subscriber.confirm_sent_at = now
    db.session.flush()
    subscriber.confirm_token_hash = _digest(confirm_token(subscriber))
    db.session.flush()
    outbox.emit("status.confirm", {"subscriber_id": subscriber.id})


def pending_confirmation(token: str, *, now: datetime | None = None) -> StatusSubscriber:
    """The subscriber a confirmation token is for, while it is usable; else LinkRefused."""
    subscriber = _subscriber_for(token)
    if subscriber is None or not subscriber.confirm_token_hash or subscriber.confirm_sent_at is None:
        raise LinkRefused(LINK_REFUSED)
    if not (
        hmac.compare_digest(token, confirm_token(subscriber))
        and hmac.compare_digest(_digest(token), subscriber.confirm_token_hash)
    ):
        raise LinkRefused(LINK_REFUSED)
    if subscriber.confirm_sent_at + confirm_lifetime() <= (now or utcnow()):
        raise LinkRefused(LINK_REFUSED)
    return subscriber


def confirm(token: str) -> StatusSubscriber:
    """Double opt-in: the address is proven; the link is used up."""
    subscriber = pending_confirmation(token)
    subscriber.confirmed_at = utcnow()
    subscriber.unsubscribed_at = None
    subscriber.confirm_token_hash = ""
    db.session.flush()
    return subscriber


def subscriber_for_manage(token: str) -> StatusSubscriber:
    subscriber = _subscriber_for(token)
    if subscriber is None or not hmac.compare_digest(token, manage_token(subscriber)):
        raise LinkRefused("This link is not valid.")
    return subscriber


def unsubscribe(token: str) -> StatusSubscriber:
    """One click (RFC 8058): no more notices; idempotent."""
    subscriber = subscriber_for_manage(token)
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = utcnow()
        subscriber.confirm_token_hash = ""
        db.session.flush()
    return subscriber


def change_components(token: str, *, all_components: bool, component_ids=None) -> StatusSubscriber:
    subscriber = subscriber_for_manage(token)
    subscriber.component_ids = _component_ids(all_components, component_ids)
    subscriber.all_components = bool(all_components)
    db.session.flush()
    return subscriber


def is_active(subscriber: StatusSubscriber) -> bool:
    return subscriber.confirmed_at is not None and subscriber.unsubscribed_at is None


def recipients(component_ids: set[int]) -> list[StatusSubscriber]:
    """Confirmed, subscribed subscribers who want to hear about any of ``component_ids`` (all-components
    subscribers always), in id order."""
    rows = db.session.scalars(
        select(StatusSubscriber)
        .where(StatusSubscriber.confirmed_at.is_not(None), StatusSubscriber.unsubscribed_at.is_(None))
        .order_by(StatusSubscriber.id)
    )
    wanted = set(component_ids)
    return [s for s in rows if s.all_components or wanted.intersection(s.component_ids or [])]
