"""Incidents (outage, security incident, data loss) with the guide's procedures as checklists, their updates, linked
tickets and organizations, post-mortems; the status page's components, scheduled maintenance and subscribers; and
ticket spikes that may be an incident.

A component's state on the status page is derived, never stored: the worst impact among the open incidents naming
it, else "maintenance" while a window naming it is running, else operational.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Organization, User, _enum
from portal.models.base import Base, utcnow


class IncidentKind(str, enum.Enum):
    outage = "outage"
    security = "security"
    data_loss = "data_loss"

    @property
    def label(self) -> str:
        return {"outage": "System outage", "security": "Security incident", "data_loss": "Data loss"}[self.value]


class IncidentSeverity(str, enum.Enum):
    critical = "critical"
    major = "major"
    minor = "minor"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class IncidentState(str, enum.Enum):
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def is_open(self) -> bool:
        return self is not IncidentState.resolved


# The only way forward: investigating → identified → monitoring → resolved (a step may be skipped, never undone,
# except that monitoring may go back to identified when the fix did not hold).
INCIDENT_TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    IncidentState.investigating: frozenset(
        {IncidentState.identified, IncidentState.monitoring, IncidentState.resolved}
    ),
    IncidentState.identified: frozenset({IncidentState.monitoring, IncidentState.resolved}),
    IncidentState.monitoring: frozenset({IncidentState.identified, IncidentState.resolved}),
    IncidentState.resolved: frozenset(),
}


class ComponentState(str, enum.Enum):
    operational = "operational"
    maintenance = "maintenance"
    degraded = "degraded"
    partial_outage = "partial_outage"
    major_outage = "major_outage"

    @property
    def label(self) -> str:
        return {
            "operational": "Operational",
            "maintenance": "Under maintenance",
            "degraded": "Degraded performance",
            "partial_outage": "Partial outage",
            "major_outage": "Major outage",
        }[self.value]

    @property
    def rank(self) -> int:  # worst wins
        return list(ComponentState).index(self)


class Component(Base):
    """A part of the ESG platform customers see on the status page (admin-editable): Data entry, Reporting, ..."""

    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[IncidentKind] = mapped_column(_enum(IncidentKind, "incident_kind"))
    severity: Mapped[IncidentSeverity] = mapped_column(_enum(IncidentSeverity, "incident_severity"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")  # internal description at declaration
    state: Mapped[IncidentState] = mapped_column(
        _enum(IncidentState, "incident_state"), default=IncidentState.investigating
    )
    commander_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    all_organizations: Mapped[bool] = mapped_column(default=True)  # else only those in incident_organizations
    public: Mapped[bool] = mapped_column(default=True)  # shown on the public status page
    # one instant per state (investigating = declared)
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    identified_at: Mapped[datetime | None]
    monitoring_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # update reminders: the last update that went out, reminders since it (commander first, then the manager)
    last_update_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(default=0)
    next_reminder_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    commander: Mapped[User | None] = relationship(foreign_keys=[commander_id])
    declared_by: Mapped[User | None] = relationship(foreign_keys=[declared_by_id])

    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        Index("ix_incidents_state_id", "state", "id"),
        Index("ix_incidents_next_reminder_at", "next_reminder_at"),
        Index("ix_incidents_declared_at", "declared_at"),
    )

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def reference(self) -> str:
        return f"INC-{self.id:04d}"


class IncidentComponent(Base):
    __tablename__ = "incident_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"))
    impact: Mapped[ComponentState] = mapped_column(
        _enum(ComponentState, "component_state"), default=ComponentState.major_outage
    )

    component: Mapped[Component] = relationship()

    __table_args__ = (UniqueConstraint("incident_id", "component_id", name="uq_incident_components_pair"),)


class IncidentOrganization(Base):
    __tablename__ = "incident_organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))

    organization: Mapped[Organization] = relationship()

    __table_args__ = (
        UniqueConstraint("incident_id", "organization_id", name="uq_incident_organizations_pair"),
        Index("ix_incident_organizations_organization_id", "organization_id"),
    )


class IncidentTicket(Base):
    __tablename__ = "incident_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("incident_id", "ticket_id", name="uq_incident_tickets_pair"),
        Index("ix_incident_tickets_ticket_id", "ticket_id"),
    )


class ChecklistTemplateStep(Base):
    """The guide's emergency procedure for a kind, one row per step (admin-editable). ``action`` names what the
    portal can do for the step with a button: notify (post an update to every affected customer), escalate (raise
    the linked tickets to engineering), update, postmortem; empty for a step a person does and ticks."""

    __tablename__ = "checklist_template_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[IncidentKind] = mapped_column(_enum(IncidentKind, "incident_kind"))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20), default="")

    __table_args__ = (Index("ix_checklist_template_steps_kind_position", "kind", "position"),)


class IncidentStep(Base):
    """One step of an incident's checklist, copied from the template at declaration; ticked by a named person."""

    __tablename__ = "incident_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20), default="")
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None]

    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])


class IncidentUpdate(Base):
    """An update written once: a public reply on every linked ticket, email to the affected organizations'
    contacts, the status page, the portal banner and Slack (all through the outbox)."""

    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    state: Mapped[IncidentState] = mapped_column(_enum(IncidentState, "incident_state"))  # the state it announced
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    __table_args__ = (Index("ix_incident_updates_incident_id_id", "incident_id", "id"),)


class IncidentEvent(Base):
    """The incident's timeline (declared, state changes, links, steps ticked, updates, reminders, resolution): the
    post-mortem's timeline is generated from it."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])

    __table_args__ = (Index("ix_incident_events_incident_id_id", "incident_id", "id"),)


class PostMortemState(str, enum.Enum):
    draft = "draft"
    published = "published"


class PostMortem(Base):
    __tablename__ = "post_mortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown
    state: Mapped[PostMortemState] = mapped_column(
        _enum(PostMortemState, "post_mortem_state"), default=PostMortemState.draft
    )
    public: Mapped[bool] = mapped_column(default=False)  # published on the status page too
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class PostMortemAction(Base):
    __tablename__ = "post_mortem_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_mortem_id: Mapped[int] = mapped_column(ForeignKey("post_mortems.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))  # engineering
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])


class Maintenance(Base):
    """A scheduled maintenance window: shown on the status page; while it runs, notifications about the components
    it names are suppressed (only those); it ends on time by itself."""

    __tablename__ = "maintenances"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_maintenances_window", "starts_at", "ends_at"),)


class MaintenanceComponent(Base):
    __tablename__ = "maintenance_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    maintenance_id: Mapped[int] = mapped_column(ForeignKey("maintenances.id", ondelete="CASCADE"))
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"))

    component: Mapped[Component] = relationship()

    __table_args__ = (UniqueConstraint("maintenance_id", "component_id", name="uq_maintenance_components_pair"),)


class StatusSubscriber(Base):
    """An email subscription to the status page (double opt-in; one-click unsubscribe by a signed link)."""

    __tablename__ = "status_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    all_components: Mapped[bool] = mapped_column(default=True)
    component_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # when not all
    confirm_token_hash: Mapped[str] = mapped_column(String(64), default="")
    confirm_sent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SpikeAlert(Base):
    """Similar tickets arriving together above the threshold: the on-shift senior agent and the manager are told
    and offered to declare an incident with them linked."""

    __tablename__ = "spike_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # what was similar, and the window: alerted once
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"))
    terms: Mapped[str] = mapped_column(String(300), default="")
    ticket_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    dismissed_at: Mapped[datetime | None]
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
