"""The status page's Atom 1.0 and RSS 2.0 feeds: public incident updates, maintenance windows and published public
post-mortems, newest first. The templates escape every text (autoescaped .xml); here texts lose the characters XML
1.0 cannot carry, and instants are given as RFC 3339 (Atom) and RFC 822 (RSS)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from sqlalchemy import select

from portal.extensions import db
from portal.markdown import markdown_to_text
from portal.models import (
    Incident,
    IncidentUpdate,
    Maintenance,
    PostMortem,
    PostMortemState,
    utcnow,
)

FEED_SIZE = 50
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Text XML 1.0 can carry (control characters other than tab and line breaks removed)."""
    return _NOT_XML.sub("", value or "")


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rfc822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


@dataclass(frozen=True)
class Entry:
    key: str  # unique and stable: the entry's id is built from it
    title: str
    summary: str
    updated: datetime
    incident_id: int | None  # the link: that incident's page, else the status page

    @property
    def atom_updated(self) -> str:
        return rfc3339(self.updated)

    @property
    def rss_date(self) -> str:
        return rfc822(self.updated)


def entries(limit: int = FEED_SIZE) -> list[Entry]:
    """The newest public facts of the status page."""
    items: list[Entry] = []
    for update, incident in db.session.execute(
        select(IncidentUpdate, Incident)
        .join(Incident, Incident.id == IncidentUpdate.incident_id)
        .where(Incident.public.is_(True))
        .order_by(IncidentUpdate.created_at.desc(), IncidentUpdate.id.desc())
        .limit(limit)
    ):
        items.append(
            Entry(
                key=f"update-{update.id}",
                title=xml_text(f"{incident.reference} {incident.title}: {update.state.label}"),
                summary=xml_text(update.body),
                updated=update.created_at,
                incident_id=incident.id,
            )
        )
    for window in db.session.scalars(
        select(Maintenance).order_by(Maintenance.created_at.desc(), Maintenance.id.desc()).limit(limit)
    ):
        cancelled = window.cancelled_at is not None
        items.append(
            Entry(
                key=f"maintenance-{window.id}{'-cancelled' if cancelled else ''}",
                title=xml_text(f"{'Cancelled: ' if cancelled else ''}Maintenance: {window.title}"),
                summary=xml_text(
                    f"{rfc3339(window.starts_at)} – {rfc3339(window.ends_at)} (UTC). {window.body}".strip()
                ),
                updated=window.cancelled_at or window.created_at,
                incident_id=None,
            )
        )
    for post_mortem, incident in db.session.execute(
        select(PostMortem, Incident)
        .join(Incident, Incident.id == PostMortem.incident_id)
        .where(Incident.public.is_(True), PostMortem.public.is_(True), PostMortem.state == PostMortemState.published)
        .order_by(PostMortem.published_at.desc())
        .limit(limit)
    ):
        items.append(
            Entry(
                key=f"postmortem-{post_mortem.id}",
                title=xml_text(f"Post-mortem: {incident.reference} {incident.title}"),
                summary=xml_text(markdown_to_text(post_mortem.body)[:1000]),
                updated=post_mortem.published_at or post_mortem.updated_at,
                incident_id=incident.id,
            )
        )
    items.sort(key=lambda e: (e.updated, e.key), reverse=True)
    return items[:limit]


def feed_updated(items: list[Entry]) -> str:
    return rfc3339(items[0].updated if items else utcnow())
