"""The audit log: who did what to accounts, settings, exports and content, before and after, when, from where.

``record`` adds a row to the current transaction, so an audited change and its audit row commit (or roll back)
together. Rows are append-only: the ORM refuses to update or delete one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import event

from portal.client import client_ip, request_id
from portal.extensions import db
from portal.models import AuditEntry, User, utcnow

# The action names in use, grouped for the filter on /admin/audit. Add new ones here.
ACTIONS: dict[str, str] = {
    "auth.login": "Signed in",
    "auth.login_failed": "Sign-in failed",
    "auth.locked": "Sign-in locked out",
    "auth.logout_all": "Signed out everywhere",
    "auth.session_ended": "Another session signed out",
    "auth.two_factor_failed": "Second factor refused",
    "account.signup": "Signed up",
    "account.verified": "Address verified",
    "account.password_changed": "Password changed",
    "account.password_reset": "Password reset by email",
    "account.email_changed": "Email changed",
    "two_factor.enabled": "Two-factor enabled",
    "two_factor.disabled": "Two-factor disabled",
    "two_factor.reset": "Two-factor reset by an admin",
    "two_factor.recovery_used": "Recovery code used",
    "two_factor.recovery_regenerated": "Recovery codes regenerated",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "user.created": "User created",
    "user.role": "Role changed",
    "user.organization": "Organization changed",
    "user.approved": "Account approved",
    "user.deactivated": "Account deactivated",
    "user.reactivated": "Account reactivated",
    "organization.join_approved": "Organization join approved",
    "organization.join_refused": "Organization join refused",
    "organization.created": "Organization created",
    "organization.changed": "Organization changed",
    "settings.sla": "SLA policy changed",
    "settings.routing": "Routing changed",
    "settings.roster": "Roster changed",
    "settings.channels": "Channels changed",
    "settings.other": "Setting changed",
    "export.download": "Export downloaded",
    "report.download": "Report downloaded",
    "kb.published": "Article published",
    "kb.archived": "Article archived",
    "mail.released": "Quarantined mail released",
    "mail.reprocessed": "Mail processed again",
    "mail.discarded": "Quarantined mail discarded",
    "mail.merged": "Mailed-in ticket merged",
    "incident.declared": "Incident declared",
    "incident.resolved": "Incident resolved",
    "incident.template_changed": "Incident checklist template changed",
    "status.component": "Status component changed",
    "status.maintenance": "Maintenance window changed",
    "postmortem.published": "Post-mortem published",
    "spike.dismissed": "Ticket spike alert dismissed",
}


class AuditImmutable(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


def _plain(value: Any) -> Any:
    """JSON-safe copy of a before/after value (datetimes as ISO text, enums as values)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _current_actor() -> User | None:
    if not has_request_context():
        return None
    try:
        if current_user.is_authenticated:
            return current_user._get_current_object()
    except Exception:  # no login manager bound (a CLI command): nobody
        return None
    return None


def record(
    action: str,
    *,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    target_label: str | None = None,
    before: Mapping | None = None,
    after: Mapping | None = None,
    detail: str | None = None,
    actor: User | None | bool = True,
) -> AuditEntry:
    """Add one audit row to the session (committed with the change it describes).

    ``target`` may be a model instance: its table name, id and a label (email, name, title or reference) are
    taken from it. ``actor=True`` means the signed-in user (none outside a request); pass a user or None.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to portal.services.audit.ACTIONS")
    if actor is True:
        actor = _current_actor()
    if target is not None:
        target_type = target_type or getattr(target, "__tablename__", type(target).__name__.lower())
        target_id = target_id if target_id is not None else getattr(target, "id", None)
        if target_label is None:
            for attr in ("email", "reference", "title", "name"):
                label = getattr(target, attr, None)
                if isinstance(label, str) and label:
                    target_label = label
                    break
    entry = AuditEntry(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=(actor.email if actor is not None else "system")[:254],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:64],
        target_label=None if target_label is None else str(target_label)[:254],
        before=_plain(dict(before)) if before is not None else None,
        after=_plain(dict(after)) if after is not None else None,
        detail=None if detail is None else str(detail)[:500],
        ip=(client_ip() or None),
        request_id=(request_id() or None),
    )
    db.session.add(entry)
    return entry


def changes(before: Mapping, after: Mapping) -> tuple[dict, dict]:
    """Only the keys whose values differ, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(_mapper, _connection, _target):
    raise AuditImmutable("audit rows cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(_mapper, _connection, _target):
    raise AuditImmutable("audit rows cannot be deleted")
