"""The go-live success criteria: at months 1, 3 and 6 after go-live, is the desk where the operations guide says it
should be?

| Checkpoint | SLA compliance | Open tickets at the month's end | Satisfaction (CSAT average) | Other |
|---|---|---|---|---|
| Month 1 | ≥ 90 % | < 50 | ≥ 4.0 | all 11 positions filled (6 agents, 3 senior agents, 1 manager, 1 admin) |
| Month 3 | ≥ 95 % | < 30 | ≥ 4.3 | knowledge base ≥ 80 % complete |
| Month 6 | ≥ 98 % | < 20 | ≥ 4.5 | zero critical SLA violations in the month |

The figures are the monthly report's (``sla_compliance``, ``open_at_end``, ``csat.average``, ``sla_violations``) for
the checkpoint's month, so the page and the report agree.

- **Go-live date**: the portal setting ``go_live_date`` (``portal_settings``; an admin sets it on the success page),
  else the configuration's ``GO_LIVE_DATE``; without either there is nothing to judge.
- **Month N** is the N-th calendar month in the reporting time zone counted from the go-live date: month 1 is the
  calendar month holding the go-live date, starting on the go-live date itself (days before go-live are not the
  desk's), month 2 the next calendar month, and so on.
- **Verdicts**: ``pass`` / ``fail`` once the month is over; ``not yet`` for a month in progress (its figures so far
  are shown) or still to come; ``no data`` when a month is over but the figure has nothing to count (no SLA target
  decided, no rating) — which is not a pass.
- **Positions filled**: staff accounts per role that are active now and were created before the month's end (the
  portal keeps no history of deactivations).
- **Knowledge base complete**: the share of the 18 topics of the seed's knowledge-base structure (6 categories × 3
  topics, ``KB_TOPICS`` below) that have at least one article published before the month's end. The topics are not
  modelled as rows: each is defined here by its KB category and the words that name it; an article covers a topic
  when it is in the topic's category and a topic word starts a word of its title or tags.

The verdict logic (``judge``, ``topic_coverage``, ``checkpoint_period``) is pure; ``checkpoints()`` gathers the data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Article, ArticleStatus, KbCategory, Role, Setting, User, utcnow
from portal.services import audit
from portal.services.errors import Forbidden, ValidationFailed

SETTING_KEY = "go_live_date"
MONTHS = (1, 3, 6)
PASS, FAIL, NOT_YET, NO_DATA = "pass", "fail", "not yet", "no data"

# The seed's checkpoints: SLA compliance (a fraction), open tickets (strictly fewer than), CSAT average (at least).
TARGETS: dict[int, dict[str, float]] = {
    1: {"sla_compliance": 0.90, "open_tickets": 50, "satisfaction": 4.0},
    3: {"sla_compliance": 0.95, "open_tickets": 30, "satisfaction": 4.3},
    6: {"sla_compliance": 0.98, "open_tickets": 20, "satisfaction": 4.5},
}
POSITIONS: dict[Role, int] = {Role.agent: 6, Role.senior_agent: 3, Role.manager: 1, Role.admin: 1}  # 11 in all
KB_COMPLETE_SHARE = 0.80

# The seed's knowledge-base structure: (category slug, topic, words that name the topic in a title or tag).
KB_TOPICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("getting-started", "Account setup", ("account setup", "setup", "onboarding", "profile", "settings")),
    ("getting-started", "First login", ("first login", "login", "log in", "sign in")),
    ("getting-started", "Navigation guide", ("navigation", "navigating", "dashboard", "menu")),
    ("data-entry", "Adding ESG data", ("adding", "entering", "data entry", "recording", "manual")),
    ("data-entry", "Bulk import", ("bulk", "import")),
    ("data-entry", "Data validation", ("validation", "validating", "review", "approval")),
    ("reporting", "Generating reports", ("generating", "generate", "report")),
    ("reporting", "Framework selection", ("framework",)),
    ("reporting", "Export options", ("export",)),
    ("integrations", "ERP connection", ("erp", "sap", "oracle", "dynamics")),
    ("integrations", "IoT devices", ("iot", "meter", "device")),
    ("integrations", "API usage", ("api", "rest", "webhook")),
    ("troubleshooting", "Common errors", ("error", "problem", "lockout")),
    ("troubleshooting", "Performance issues", ("performance", "slow")),
    ("troubleshooting", "Browser compatibility", ("browser", "compatibility")),
    ("admin", "User management", ("user management", "users", "roles")),
    ("admin", "Permissions", ("permission",)),
    ("admin", "System configuration", ("configuration", "configuring", "settings")),
)
_TOPIC_PATTERNS = {
    (category, topic): re.compile("|".join(rf"\b{re.escape(word)}" for word in words))
    for category, topic, words in KB_TOPICS
}


# --------------------------------------------------------------------------- the go-live date


def parse_go_live(value: Any) -> date | None:
    """A stored or configured go-live date (``YYYY-MM-DD`` or a ``date``); None when missing or unreadable."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip()) if value else None
    except ValueError:
        return None


def configured_go_live() -> date | None:
    return parse_go_live(current_app.config.get("GO_LIVE_DATE")) if has_app_context() else None


def go_live_date() -> tuple[date | None, str]:
    """(the go-live date, where it comes from: "setting", "config" or "unset")."""
    stored = db.session.get(Setting, SETTING_KEY)
    value = parse_go_live(stored.value) if stored is not None else None
    if value is not None:
        return value, "setting"
    configured = configured_go_live()
    return (configured, "config") if configured is not None else (None, "unset")


def set_go_live_date(actor: User, value: str | None) -> date | None:
    """Store the go-live date (admins only); an empty value removes the setting, so the configuration applies
    again. Flushes, never commits."""
    if actor is None or actor.role is not Role.admin:
        raise Forbidden("Only admins change the go-live date.")
    text = (value or "").strip()
    stored = db.session.get(Setting, SETTING_KEY)
    if not text:
        if stored is not None:
            _audit_go_live(actor, stored.value, None)
            db.session.delete(stored)
            db.session.flush()
        return None
    parsed = parse_go_live(text) if len(text) == 10 else None
    if parsed is None or not 2000 <= parsed.year <= 2999:
        raise ValidationFailed(
            "The go-live date must be a date as YYYY-MM-DD.", {"go_live_date": "Give a date as YYYY-MM-DD."}
        )
    if stored is None:
        _audit_go_live(actor, None, parsed.isoformat())
        db.session.add(Setting(key=SETTING_KEY, value=parsed.isoformat(), updated_at=utcnow()))
    else:
        if stored.value != parsed.isoformat():
            _audit_go_live(actor, stored.value, parsed.isoformat())
        stored.value, stored.updated_at = parsed.isoformat(), utcnow()
    db.session.flush()
    return parsed


def _audit_go_live(actor: User, old: Any, new: Any) -> None:
    audit.record(
        "settings.other",
        target_type="portal_settings",
        target_id=SETTING_KEY,
        target_label="go-live date",
        before={"go_live_date": old},
        after={"go_live_date": new},
        actor=actor,
    )


# --------------------------------------------------------------------------- pure rules


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` calendar months after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def checkpoint_dates(go_live: date, month: int) -> tuple[date, date]:
    """``[from, to)`` of month ``month`` (1-based) after go-live: the calendar month ``month - 1`` months after the
    go-live month; month 1 starts on the go-live date itself."""
    start = go_live if month == 1 else add_months(go_live, month - 1)
    return start, add_months(go_live, month)


def topic_coverage(articles: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], bool]:
    """Per (category slug, topic) of ``KB_TOPICS``: whether one of ``articles`` — (category slug, title, tags) of
    published articles — covers it."""
    covered = dict.fromkeys(_TOPIC_PATTERNS, False)
    for category, title, tags in articles:
        words = f"{title} {tags}".lower()
        for key, pattern in _TOPIC_PATTERNS.items():
            if key[0] == category and not covered[key] and pattern.search(words):
                covered[key] = True
    return covered


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    target: str  # the target as people read it ("≥ 90 %")
    actual: Any  # the figure (None: nothing to count)
    shown: str  # the figure as people read it
    verdict: str  # pass, fail, not yet, no data
    detail: str = ""


def _verdict(ok: bool | None, over: bool) -> str:
    if not over:
        return NOT_YET
    if ok is None:
        return NO_DATA
    return PASS if ok else FAIL


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def judge(
    month: int,
    figures: Mapping[str, Any],
    *,
    over: bool,
    positions: Mapping[Role, int] | None = None,
    kb_share: float | None = None,
) -> list[Criterion]:
    """The criteria of checkpoint ``month`` from the monthly summary ``figures`` (and, for month 1, the filled
    ``positions`` per role; for month 3, the knowledge base's ``kb_share``). ``over``: the month has ended."""
    target = TARGETS[month]
    compliance = figures.get("sla_compliance")
    open_tickets = figures.get("open_at_end")
    satisfaction = (figures.get("csat") or {}).get("average")
    criteria = [
        Criterion(
            "sla_compliance",
            "SLA compliance",
            f"≥ {target['sla_compliance'] * 100:.0f} %",
            compliance,
            _percent(compliance),
            _verdict(None if compliance is None else compliance >= target["sla_compliance"], over),
        ),
        Criterion(
            "open_tickets",
            "Open tickets at the month's end",
            f"< {target['open_tickets']:.0f}",
            open_tickets,
            "—" if open_tickets is None else str(open_tickets),
            _verdict(None if open_tickets is None else open_tickets < target["open_tickets"], over),
        ),
        Criterion(
            "satisfaction",
            "Customer satisfaction (average rating)",
            f"≥ {target['satisfaction']:.1f} / 5",
            satisfaction,
            "—" if satisfaction is None else f"{satisfaction:.2f} / 5",
            _verdict(None if satisfaction is None else satisfaction >= target["satisfaction"], over),
        ),
    ]
    if month == 1:
        filled = {role: (positions or {}).get(role, 0) for role in POSITIONS}
        ok = all(filled[role] >= need for role, need in POSITIONS.items())
        parts = ", ".join(f"{min(filled[r], n)}/{n} {r.label}" for r, n in POSITIONS.items())
        total = sum(min(filled[r], n) for r, n in POSITIONS.items())
        criteria.append(
            Criterion(
                "positions",
                "All positions filled",
                f"{sum(POSITIONS.values())} of {sum(POSITIONS.values())}",
                total,
                f"{total} of {sum(POSITIONS.values())}",
                _verdict(ok, over),
                parts,
            )
        )
    elif month == 3:
        criteria.append(
            Criterion(
                "kb_complete",
                "Knowledge base complete",
                f"≥ {KB_COMPLETE_SHARE * 100:.0f} % of {len(KB_TOPICS)} topics",
                kb_share,
                _percent(kb_share),
                _verdict(None if kb_share is None else kb_share >= KB_COMPLETE_SHARE, over),
            )
        )
    elif month == 6:
        violations = figures.get("sla_violations") or {}
        critical = sum((violations.get("critical") or {}).values()) if violations else None
        criteria.append(
            Criterion(
                "critical_violations",
                "Critical SLA violations in the month",
                "0",
                critical,
                "—" if critical is None else str(critical),
                _verdict(None if critical is None else critical == 0, over),
            )
        )
    return criteria


# --------------------------------------------------------------------------- gathering the data


def filled_positions(before: datetime) -> dict[Role, int]:
    """Active staff accounts per role created before ``before``."""
    rows = db.session.execute(
        select(User.role, func.count())
        .where(
            User.role.in_(list(POSITIONS)),
            User.is_active_account.is_(True),
            User.is_approved.is_(True),
            User.created_at < before,
        )
        .group_by(User.role)
    ).all()
    return dict.fromkeys(POSITIONS, 0) | {Role(role): n for role, n in rows}


def kb_topics(before: datetime) -> dict[tuple[str, str], bool]:
    """The seed topics covered by articles published (and still published) before ``before``."""
    rows = db.session.execute(
        select(KbCategory.slug, Article.title, Article.tags)
        .join(KbCategory, KbCategory.id == Article.category_id)
        .where(Article.status == ArticleStatus.published, Article.published_at < before)
    ).all()
    return topic_coverage((slug, title or "", tags or "") for slug, title, tags in rows)


@dataclass
class Checkpoint:
    month: int
    start_date: date
    end_date: date
    state: str  # "over", "running", "future"
    criteria: list[Criterion] = field(default_factory=list)
    topics: dict[tuple[str, str], bool] | None = None  # month 3: which topics are covered

    @property
    def passed(self) -> bool | None:
        """True when every criterion passed, False when one failed, None while not decided."""
        verdicts = {c.verdict for c in self.criteria}
        if self.state != "over":
            return None
        return verdicts == {PASS}


def checkpoints(
    go_live: date,
    summary_of: Callable[[date, date, ZoneInfo, datetime], Mapping[str, Any]],
    zone: ZoneInfo,
    now: datetime | None = None,
) -> list[Checkpoint]:
    """Months 1, 3 and 6 after ``go_live`` in ``zone``: each with its verdicts. ``summary_of(from, to, zone, now)``
    gives the summary figures of a period (the reports' ``summary``); a month still to come is not computed."""
    now = now or utcnow()
    result = []
    for month in MONTHS:
        start_date, end_date = checkpoint_dates(go_live, month)
        start = datetime.combine(start_date, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(end_date, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        state = "future" if now < start else "running" if now < end else "over"
        checkpoint = Checkpoint(month, start_date, end_date, state)
        if state == "future":
            checkpoint.criteria = judge(month, {}, over=False, positions={}, kb_share=None)
        else:
            figures = summary_of(start_date, end_date, zone, now)
            upto = min(end, now)
            positions = filled_positions(upto) if month == 1 else None
            if month == 3:
                checkpoint.topics = kb_topics(upto)
                kb_share = sum(checkpoint.topics.values()) / len(KB_TOPICS)
            else:
                kb_share = None
            checkpoint.criteria = judge(month, figures, over=state == "over", positions=positions, kb_share=kb_share)
        result.append(checkpoint)
    return result
