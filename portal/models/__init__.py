"""Typed SQLAlchemy models, one module per aggregate."""
from portal.models.accounts import STAFF_ROLES, ApiToken, Organization, Role, ShiftRegion, User
from portal.models.base import Base, utcnow
from portal.models.kb import (
    KB_CATEGORIES,
    Article,
    ArticleFeedback,
    ArticleRevision,
    ArticleStatus,
    Deflection,
    Faq,
    KbCategory,
    SearchLog,
    SearchSource,
    TicketSuggestion,
)
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.notifications import NotificationDelivery, NotificationPreference
from portal.models.roster import OnCall, Shift, StaffStatus, TimeOff  # noqa: E402  (SLA/roster, issue 3)
from portal.models.sla import Calendar, Holiday, SlaEvent, SlaEventKind, SlaPolicy, SlaTargetName, TierSpan  # noqa: E402
from portal.models.tickets import (
    CUSTOMER_STATUS_TRANSITIONS,
    OPEN_STATUSES,
    STATUS_TRANSITIONS,
    Category,
    Channel,
    EventKind,
    Priority,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    format_reference,
    parse_reference,
)

__all__ = [
    "Article", "ArticleFeedback", "ArticleRevision", "ArticleStatus", "Deflection", "Faq", "KB_CATEGORIES", "KbCategory",
    "SearchLog", "SearchSource", "TicketSuggestion",
    "ApiToken", "Base", "Category", "Channel", "CUSTOMER_STATUS_TRANSITIONS", "EventKind", "OPEN_STATUSES",
    "NotificationDelivery", "NotificationPreference", "Organization", "OutboxMessage", "OutboxStatus", "Priority", "Role", "STAFF_ROLES", "STATUS_TRANSITIONS", "ShiftRegion", "Status", "Ticket",
    "TicketEvent", "Tier", "User", "format_reference", "parse_reference", "utcnow",
    "Calendar", "Holiday", "OnCall", "Shift", "SlaEvent", "SlaEventKind", "SlaPolicy", "SlaTargetName", "StaffStatus",
    "TierSpan", "TimeOff",
]
