"""Admins' webhook subscriptions: create (the secret is ours, returned once), edit, pause, rotate the secret,
delete, send a test ping, redeliver a delivery, and the reads the pages need. Only admins; the services flush,
the caller commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import utcnow
from portal.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from portal.services import outbox
from portal.services.errors import Forbidden, NotFound, ValidationFailed
from portal.services.webhooks import events, urls
from portal.services.webhooks.signing import new_secret

URL_MAX = 2000
DESCRIPTION_MAX = 200


def _require_admin(actor) -> None:
    if actor is None or not getattr(actor, "is_admin", False):
        raise Forbidden("Only administrators manage webhooks.")


def _clean(url: object, description: object, chosen: object) -> tuple[str, str, list[str]]:
    errors: dict[str, str] = {}
    url_text = str(url or "").strip()
    if not url_text:
        errors["url"] = "Enter the URL that receives the webhooks."
    elif len(url_text) > URL_MAX:
        errors["url"] = f"At most {URL_MAX} characters."
    else:
        try:
            urls.check_url(url_text)
        except urls.UnsafeUrl as exc:
            errors["url"] = str(exc)
        except LookupError as exc:
            errors["url"] = f"{exc}. Check the host name."
    text = " ".join(str(description or "").split())
    if len(text) > DESCRIPTION_MAX:
        errors["description"] = f"At most {DESCRIPTION_MAX} characters."
    picked = [chosen] if isinstance(chosen, str) else list(chosen or [])
    unknown = [e for e in picked if e not in events.EVENTS]
    if unknown:
        errors["events"] = "Unknown event: " + ", ".join(sorted(map(str, unknown)))
    elif not picked:
        errors["events"] = "Choose at least one event."
    if errors:
        raise ValidationFailed("The subscription was not saved.", errors)
    return url_text, text, [e for e in events.EVENTS if e in picked]


def create(actor, *, url: object, description: object = "", chosen: object = (), active: bool = True):
    """A new subscription and its secret (the only time the secret is returned in full)."""
    _require_admin(actor)
    url_text, text, picked = _clean(url, description, chosen)
    subscription = WebhookSubscription(
        url=url_text,
        description=text,
        events=picked,
        active=bool(active),
        secret=new_secret(),
        created_by_id=actor.id,
    )
    db.session.add(subscription)
    db.session.flush()
    events.forget_cache()
    return subscription


def update(actor, subscription: WebhookSubscription, *, url: object, description: object, chosen: object, active):
    _require_admin(actor)
    url_text, text, picked = _clean(url, description, chosen)
    subscription.url, subscription.description, subscription.events = url_text, text, picked
    subscription.active = bool(active)
    subscription.updated_at = utcnow()
    db.session.flush()
    events.forget_cache()


def set_active(actor, subscription: WebhookSubscription, active: bool) -> None:
    _require_admin(actor)
    subscription.active = bool(active)
    subscription.updated_at = utcnow()
    db.session.flush()
    events.forget_cache()


def rotate_secret(actor, subscription: WebhookSubscription) -> str:
    """A new secret replaces the old one at once (deliveries from now on are signed with it)."""
    _require_admin(actor)
    subscription.secret = new_secret()
    subscription.secret_rotated_at = subscription.updated_at = utcnow()
    db.session.flush()
    return subscription.secret


def delete(actor, subscription: WebhookSubscription) -> None:
    _require_admin(actor)
    db.session.delete(subscription)
    db.session.flush()
    events.forget_cache()


def ping(actor, subscription: WebhookSubscription) -> WebhookDelivery:
    """A test delivery of the ``ping`` event (sent even while the subscription is paused)."""
    _require_admin(actor)
    data: dict[str, Any] = {"subscription": {"id": subscription.id, "description": subscription.description}}
    return events.record(events.PING, data, [subscription.id])[0]


def redeliver(actor, delivery: WebhookDelivery) -> None:
    """Another attempt of the same delivery (same ``X-Webhook-Id``), whatever its state, unless one is running."""
    _require_admin(actor)
    if delivery.state == "sending":
        raise ValidationFailed("This delivery is being sent right now.", {"delivery": "Wait for its outcome."})
    delivery.state = "pending"
    delivery.next_attempt_at = None
    outbox.emit(
        events.DELIVER_KIND,
        {"delivery": delivery.uuid, "trigger": "redeliver", "after": delivery.attempts},
        dedupe_key=f"webhook:{delivery.uuid}:redeliver:{delivery.attempts}",
    )
    db.session.flush()


# --------------------------------------------------------------------------- reads


def get(actor, subscription_id: int) -> WebhookSubscription:
    _require_admin(actor)
    subscription = db.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound("No such webhook subscription.")
    return subscription


def get_delivery(actor, subscription: WebhookSubscription, delivery_id: int) -> WebhookDelivery:
    _require_admin(actor)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("No such delivery.")
    return delivery


def listing(actor) -> list[WebhookSubscription]:
    _require_admin(actor)
    return list(db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def deliveries(subscription: WebhookSubscription, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def attempts(delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        db.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.id)
        )
    )
