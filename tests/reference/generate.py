"""A seeded generator of realistic ticket histories in the import format (JSON Lines, one dict per ticket).

``generate(seed, tickets, start=..., end=..., now=...)`` returns the lines as dicts: a month of tickets (most created in
``[start, end)``, some a few weeks before with events inside it, some after it up to ``now``, so tickets span the
month's end and some are still running at ``now``). Each ticket is lived by a small simulation that only makes valid
moves: staff replies (public), customer replies, internal notes, status changes (pending, on hold, solved, reopened,
closed after solved), priority raises and drops (also while pending and after a solve), assignments and unassignments
(by staff or by the System), escalations one tier at a time with a reason of that step, and ratings after a solve.
Instants are written with whole seconds, milliseconds or microseconds and in UTC or with an offset; some events share
an instant (a reply and the status change it brings, both orders of a raise and a reply, an assignment and a solve).
A few tickets are built on the SLA boundaries: a reply or a solve exactly at the limit, one microsecond after it, a
pause exactly at the limit, a raise that lands exactly on the new limit.

Nothing here knows how the portal computes its figures: it only writes histories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

PRIORITIES = ("critical", "high", "medium", "low")
CATEGORIES = ("technical", "integration", "account", "data", "training", "general")
CHANNELS = ("web", "email", "api", "chat", "phone")
# The limits of the default policy in minutes (first response, resolution): only to place realistic gaps and the
# boundary cases; the reference computes with its own copy.
LIMITS = {"critical": (15, 240), "high": (60, 480), "medium": (240, 1440), "low": (1440, 4320)}
TIERS = ("L1", "L2", "manager", "engineering")
# Escalation reasons per step (the tier escalated to), as the portal's escalation rules define them.
REASONS = {
    "L2": ("technical_complexity", "integration", "data_corruption", "security"),
    "manager": ("sla_at_risk", "customer_escalation", "system_wide_issue", "policy_decision"),
    "engineering": ("bug", "feature_request", "infrastructure", "outage"),
}
# Who may escalate from a tier.
ESCALATORS = {
    "L1": ("agent", "senior_agent", "manager", "admin"),
    "L2": ("senior_agent", "manager", "admin"),
    "manager": ("manager", "admin"),
}

# The demo team: (name, role); emails are firstname.lastname@support.test.
STAFF = (
    ("John Smith", "senior_agent"),
    ("Sarah Johnson", "agent"),
    ("Tom Baker", "agent"),
    ("Mike Chen", "agent"),
    ("Emily Davis", "senior_agent"),
    ("Priya Patel", "agent"),
    ("David Wilson", "agent"),
    ("Lisa Brown", "agent"),
    ("Alex Morgan", "senior_agent"),
    ("Robert Taylor", "manager"),
    ("Jennifer Lee", "admin"),
)
ORGANIZATIONS = ("Demo Manufacturing plc", "Acme Renewables Inc.", "Northwind Energy GmbH", "Blue Harbour Foods Ltd")
OFFSETS = (timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30)))

ZERO_GAP = timedelta(0)
DEFAULT_START = datetime(2026, 10, 1, tzinfo=UTC)
DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_NOW = datetime(2026, 11, 3, 10, 0, 0, tzinfo=UTC)


def staff_email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@support.test"


STAFF_BY_ROLE: dict[str, list[str]] = {}
for _name, _role in STAFF:
    STAFF_BY_ROLE.setdefault(_role, []).append(staff_email(_name))
STAFF_EMAILS = tuple(staff_email(name) for name, _ in STAFF)
AGENTS = tuple(STAFF_BY_ROLE["agent"] + STAFF_BY_ROLE["senior_agent"])


class Stop(Exception):
    """The next event would lie after ``now``: the history ends here."""


def instant_text(at: datetime, rng: random.Random, precision: str) -> str:
    """``at`` (already cut to ``precision``) in ISO 8601, in UTC with Z or, sometimes, with an offset."""
    zone = rng.choice(OFFSETS) if rng.random() < 0.1 else UTC
    local = at.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if precision == "micro":
        text += f".{local.microsecond:06d}"
    elif precision == "milli":
        text += f".{local.microsecond // 1000:03d}"
    if zone is UTC:
        return text + "Z"
    offset = local.strftime("%z")
    return f"{text}{offset[:3]}:{offset[3:]}"


def _cut(at: datetime, precision: str) -> datetime:
    if precision == "second":
        return at.replace(microsecond=0)
    if precision == "milli":
        return at.replace(microsecond=at.microsecond // 1000 * 1000)
    return at


@dataclass
class Life:
    """One ticket being lived: its state, the events so far and the clock."""

    rng: random.Random
    now: datetime
    created: datetime
    priority: str
    requester: str
    events: list[dict] = field(default_factory=list)
    at: datetime | None = None
    status: str = "new"
    tier: str = "L1"
    assignee: str | None = None
    solves: int = 0
    rated: set[int] = field(default_factory=set)
    staff_replied: bool = False

    def __post_init__(self) -> None:
        self.at = self.created

    # ---- the clock

    def later(self, gap: timedelta, *, exact: bool = False) -> datetime:
        """The instant ``gap`` after the last event, cut to a random precision (``exact``: keep microseconds)."""
        if gap < timedelta(0):
            gap = timedelta(0)
        precision = "micro" if exact else self.rng.choice(("second", "second", "milli", "micro"))
        at = self.at + gap
        if not exact:
            at = _cut(at, precision)
            if at < self.at:
                at, precision = self.at, "micro"
        if at > self.now:
            raise Stop
        return at

    def emit(self, at: datetime, kind: str, author: str | None, **fields) -> None:
        if at > self.now:
            raise Stop
        assert at >= self.at, "events in order"
        precision = "micro" if at.microsecond % 1000 else ("milli" if at.microsecond else "second")
        self.events.append({"at": instant_text(at, self.rng, precision), "type": kind, "author": author, **fields})
        self.at = at

    def gap(self, minutes: float) -> timedelta:
        return timedelta(seconds=max(0.0, minutes) * 60 * self.rng.uniform(0.3, 1.7))

    # ---- people

    def some_staff(self) -> str:
        if self.assignee and self.rng.random() < 0.8:
            return self.assignee
        return self.rng.choice(AGENTS if self.rng.random() < 0.85 else STAFF_EMAILS)

    # ---- moves (each checks that it is valid in the current state)

    def reply(self, at: datetime, *, staff: bool = True, public: bool = True, author: str | None = None) -> None:
        who = author or (self.some_staff() if staff else self.requester)
        body = "Thanks, looking into it." if staff else "Any news on this?"
        self.emit(at, "reply", who, public=public, body=body if public else "Checked the logs; see attachment.")
        if staff and public:
            self.staff_replied = True

    def set_status(self, at: datetime, to: str, author: str | None = None) -> None:
        if to == self.status or self.status == "closed" or (to == "closed" and self.status != "solved"):
            return
        self.emit(at, "status", author if author is not None else self.some_staff(), to=to)
        if to == "solved":
            self.solves += 1
        self.status = to

    def set_priority(self, at: datetime, to: str) -> None:
        if to != self.priority:
            self.emit(at, "priority", self.some_staff(), to=to)
            self.priority = to

    def raise_priority(self, at: datetime) -> None:
        index = PRIORITIES.index(self.priority)
        if index > 0:
            self.set_priority(at, PRIORITIES[self.rng.randrange(0, index)])

    def drop_priority(self, at: datetime) -> None:
        index = PRIORITIES.index(self.priority)
        if index < len(PRIORITIES) - 1:
            self.set_priority(at, PRIORITIES[self.rng.randrange(index + 1, len(PRIORITIES))])

    def assign(self, at: datetime, to: str | None, *, system: bool = False) -> None:
        if to == self.assignee:
            return
        author = None if system else self.rng.choice((to or self.some_staff(), "robert.taylor@support.test"))
        self.emit(at, "assign", author, to=to)
        self.assignee = to

    def escalate(self, at: datetime) -> None:
        if self.tier == "engineering":
            return
        target = TIERS[TIERS.index(self.tier) + 1]
        roles = ESCALATORS[self.tier]
        candidates = [e for role in roles for e in STAFF_BY_ROLE[role]]
        author = self.assignee if self.assignee in candidates else self.rng.choice(candidates)
        self.emit(at, "escalate", author, to=target, reason=self.rng.choice(REASONS[target]))
        self.tier = target

    def rate(self, at: datetime) -> None:
        if self.status in ("solved", "closed") and self.solves not in self.rated:
            rating = self.rng.choices((1, 2, 3, 4, 5), weights=(4, 4, 10, 30, 52))[0]
            extra = {"comment": "Quick fix, thanks"} if self.rng.random() < 0.3 else {}
            self.emit(at, "csat", self.requester, rating=rating, **extra)
            self.rated.add(self.solves)


def _limit(priority: str, target: int) -> timedelta:
    return timedelta(minutes=LIMITS[priority][target])


def _work_round(life: Life) -> None:
    """One exchange while the ticket is being worked: a question to the customer, a note, an escalation..."""
    rng = life.rng
    fr = LIMITS[life.priority][0]
    roll = rng.random()
    if roll < 0.35:  # ask the customer, wait, they answer
        at = life.later(life.gap(fr * 0.5))
        life.reply(at)
        life.set_status(life.later(timedelta(0)) if rng.random() < 0.7 else life.later(life.gap(2)), "pending")
        if rng.random() < 0.15:  # a priority change while waiting
            (life.raise_priority if rng.random() < 0.6 else life.drop_priority)(life.later(life.gap(fr)))
        at = life.later(life.gap(fr * 3))
        life.reply(at, staff=False)
        life.set_status(at if rng.random() < 0.7 else life.later(life.gap(1)), "open", author=life.requester)
    elif roll < 0.45:
        life.reply(life.later(life.gap(fr * 0.3)), public=False)
    elif roll < 0.55:
        life.set_status(life.later(life.gap(fr * 0.5)), "on_hold")
        life.set_status(life.later(life.gap(fr * 4)), "open")
    elif roll < 0.68:
        at = life.later(life.gap(fr * 0.4))
        life.escalate(at)
        if life.tier == "L2" and rng.random() < 0.6:
            life.assign(
                at if rng.random() < 0.5 else life.later(life.gap(5)), rng.choice(STAFF_BY_ROLE["senior_agent"])
            )
    elif roll < 0.78:
        (life.raise_priority if rng.random() < 0.5 else life.drop_priority)(life.later(life.gap(fr * 0.6)))
    elif roll < 0.88:
        to = None if rng.random() < 0.25 else rng.choice(AGENTS)
        life.assign(life.later(life.gap(fr * 0.3)), to, system=rng.random() < 0.2)
    else:
        at = life.later(life.gap(fr * 0.5))
        life.reply(at, staff=False)
        if rng.random() < 0.5:
            life.reply(life.later(life.gap(fr * 0.5)))


def _solve(life: Life) -> None:
    """Solve the ticket some time around its resolution limit, sometimes with the assignment at the same instant."""
    rng = life.rng
    elapsed = life.at - life.created
    room = _limit(life.priority, 1) - elapsed
    if room > timedelta(0) and rng.random() < 0.8:
        gap = room * rng.uniform(0.05, 0.95)
    else:
        gap = life.gap(LIMITS[life.priority][1] * 0.4)
    at = life.later(gap)
    if rng.random() < 0.08:  # assignment and solve at one instant, in either order
        to = rng.choice(AGENTS)
        if rng.random() < 0.5:
            life.assign(at, to)
            life.set_status(at, "solved")
        else:
            life.set_status(at, "solved")
            life.assign(at, to)
    else:
        if rng.random() < 0.3:
            life.reply(at)
        life.set_status(at, "solved")


def _after_solve(life: Life) -> bool:
    """What follows a solve: a rating, a priority change, a close, or a reopen. True when the ticket is reopened."""
    rng = life.rng
    if rng.random() < 0.45:
        life.rate(life.later(life.gap(rng.choice((30, 240, 1440)))))
    if rng.random() < 0.06:
        (life.raise_priority if rng.random() < 0.7 else life.drop_priority)(life.later(life.gap(60)))
    roll = rng.random()
    if roll < 0.14:
        at = life.later(life.gap(rng.choice((60, 600, 2880))))
        if rng.random() < 0.7:
            life.reply(at, staff=False)
        to = rng.choices(("open", "pending", "on_hold", "new"), weights=(80, 8, 8, 4))[0]
        life.set_status(at, to, author=life.requester if to == "open" else life.some_staff())
        return True
    if roll < 0.6:
        life.set_status(
            life.later(life.gap(rng.choice((1440, 4320)))), "closed", author=rng.choice((None, life.some_staff()))
        )
        if rng.random() < 0.2:
            life.rate(life.later(life.gap(600)))
    return False


def _boundary(life: Life, kind: str) -> None:
    """Histories placed exactly on the SLA boundaries."""
    created, priority = life.created, life.priority
    fr, res = _limit(priority, 0), _limit(priority, 1)
    staff = life.rng.choice(AGENTS)
    life.assign(life.later(timedelta(seconds=30)), staff)
    if kind == "reply_at_limit":
        life.reply(created + fr, author=staff)
    elif kind == "reply_after_limit":
        life.reply(created + fr + timedelta(microseconds=1), author=staff)
    elif kind == "solve_at_limit":
        life.reply(life.later(fr / 2, exact=True), author=staff)
        life.set_status(created + res, "solved", author=staff)
    elif kind == "pause_at_limit":
        life.reply(life.later(fr / 2, exact=True), author=staff)
        life.set_status(created + res, "pending", author=staff)
        at = life.later(timedelta(hours=5), exact=True)
        life.reply(at, staff=False)
        life.set_status(at, "open", author=life.requester)
    elif kind == "raise_onto_limit":  # the elapsed time equals the new first-response limit at the raise
        index = PRIORITIES.index(priority)
        if index == 0:
            return
        to = PRIORITIES[index - 1]
        at = created + _limit(to, 0)
        if at <= life.at:
            return
        life.set_priority(at, to)
        if life.rng.random() < 0.5:
            life.reply(at, author=staff)  # achieved exactly at the limit: met
        else:
            life.reply(life.later(timedelta(minutes=3), exact=True), author=staff)
    elif kind == "raise_then_reply":  # equal instants: raise (breach) then reply, or reply then raise
        if priority == "critical":
            return
        at = created + _limit("critical", 0) + timedelta(minutes=2, microseconds=7)
        if at <= life.at:
            return
        if life.rng.random() < 0.5:
            life.set_priority(at, "critical")
            life.reply(at, author=staff)
        else:
            life.reply(at, author=staff)
            life.set_priority(at, "critical")
    elif kind == "raise_while_pending":
        life.reply(life.later(fr / 3, exact=True), author=staff)
        life.set_status(life.at, "pending", author=staff)
        life.set_priority(life.later(res, exact=True), "critical") if priority != "critical" else None
        at = life.later(timedelta(hours=2), exact=True)
        life.reply(at, staff=False)
        life.set_status(at, "open", author=life.requester)
    elif kind == "raise_after_solve":
        life.reply(life.later(fr / 3, exact=True), author=staff)
        life.set_status(life.later(res * 0.5, exact=True), "solved", author=staff)
        if priority != "critical":
            life.set_priority(life.later(timedelta(minutes=10), exact=True), "critical")
            at = life.later(timedelta(hours=1), exact=True)
            if life.rng.random() < 0.4:  # reopened straight into a pause: the breach is at the reopen all the same
                life.set_status(at, "pending", author=staff)
            else:
                life.reply(at, staff=False)
                life.set_status(at, "open", author=life.requester)
    elif kind == "raise_onto_limit_while_pending":  # paused with the elapsed time equal to the new limit, resumed
        if priority != "low":
            return
        life.reply(life.later(timedelta(hours=1), exact=True), author=staff)
        pause = created + _limit("high", 1)  # 8 hours of running time, then pending
        life.set_status(pause, "pending", author=staff)
        life.set_priority(life.later(timedelta(hours=1), exact=True), "high")  # not above the limit: no breach yet
        at = life.later(timedelta(hours=life.rng.choice((2, 30))), exact=True)
        life.reply(at, staff=False)
        life.set_status(at, "open", author=life.requester)  # runs on past it: breached at this instant
    elif kind == "raise_onto_limit_then_pause":  # equal instants: a raise onto the limit, then pending
        if priority in ("critical", "high"):
            return
        life.reply(life.later(timedelta(minutes=5), exact=True), author=staff)
        at = created + _limit("high", 1)
        life.set_priority(at, "high")
        life.set_status(at, "pending", author=staff)
        if life.rng.random() < 0.5:
            resume = life.later(timedelta(hours=3), exact=True)
            life.set_status(resume, "open", author=staff)
    elif kind == "reopen_at_limit":  # solved exactly at the limit, reopened (into a pause or not) later
        life.reply(life.later(fr / 2, exact=True), author=staff)
        life.set_status(created + res, "solved", author=staff)
        at = life.later(timedelta(hours=2), exact=True)
        life.set_status(at, life.rng.choice(("open", "pending")), author=staff)
        if life.status == "pending":
            at = life.later(timedelta(hours=2), exact=True)
            life.reply(at, staff=False)
            life.set_status(at, "open", author=life.requester)
    elif kind == "solve_without_reply":
        life.set_status(life.later(fr * life.rng.uniform(0.2, 2.0), exact=True), "solved", author=staff)


BOUNDARY_KINDS = (
    "reply_at_limit",
    "reply_after_limit",
    "solve_at_limit",
    "pause_at_limit",
    "raise_onto_limit",
    "raise_then_reply",
    "raise_while_pending",
    "raise_after_solve",
    "solve_without_reply",
    "raise_onto_limit_while_pending",
    "raise_onto_limit_then_pause",
    "reopen_at_limit",
)


def live(life: Life) -> None:
    """The ordinary life of a ticket: routing, a first response, some work, a solve, maybe a reopen, a close."""
    rng = life.rng
    fr_minutes = LIMITS[life.priority][0]
    if rng.random() < 0.85:
        life.assign(life.later(life.gap(fr_minutes * 0.15)), rng.choice(AGENTS), system=rng.random() < 0.5)
    if rng.random() < 0.1:
        life.reply(life.later(life.gap(fr_minutes * 0.1)), public=False)
    if rng.random() < 0.08:
        (life.raise_priority if rng.random() < 0.6 else life.drop_priority)(life.later(life.gap(fr_minutes * 0.3)))
    if rng.random() < 0.05:  # the customer writes again before anyone answers
        life.reply(life.later(life.gap(fr_minutes * 0.3)), staff=False)
    if rng.random() < 0.94:  # the first response, mostly within the limit
        fr = _limit(life.priority, 0)
        elapsed = life.at - life.created
        share = rng.choices((rng.uniform(0.05, 0.9), rng.uniform(0.9, 1.0), rng.uniform(1.0, 3.0)), (80, 10, 10))[0]
        life.reply(life.later(max(fr * share - elapsed, timedelta(0))))
        if rng.random() < 0.3:
            life.set_status(life.at, "open")
    for cycle in range(3):
        for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(25, 30, 25, 12, 8))[0]):
            _work_round(life)
        _solve(life)
        if not _after_solve(life):
            break
        if cycle == 2:
            break


def ticket(rng: random.Random, number: int, created: datetime, now: datetime, customers: list[dict]) -> dict:
    requester = rng.choice(customers)
    priority = rng.choices(PRIORITIES, weights=(6, 20, 44, 30))[0]
    life = Life(rng=rng, now=now, created=created, priority=priority, requester=requester["email"])
    try:
        if rng.random() < 0.06:
            _boundary(life, rng.choice(BOUNDARY_KINDS))
            while rng.random() < 0.5:
                _work_round(life)
            if life.status not in ("solved", "closed"):
                _solve(life)
                _after_solve(life)
        else:
            live(life)
    except Stop:
        pass
    line = {
        "external_id": f"REF-{number:06d}",
        "subject": f"Reference ticket {number}",
        "description": "Generated history.",
        "priority": priority,
        "requester": requester,
        "created_at": instant_text(created, rng, "micro" if created.microsecond else "second"),
        "events": life.events,
    }
    if rng.random() < 0.9:
        line["category"] = rng.choice(CATEGORIES)
    if rng.random() < 0.8:
        line["channel"] = rng.choice(CHANNELS)
    return line


def _customers(rng: random.Random, count: int = 60) -> list[dict]:
    people = []
    for n in range(count):
        org = rng.choice(ORGANIZATIONS)
        domain = org.split()[0].lower() + ".test"
        people.append({"email": f"customer{n}@{domain}", "name": f"Customer {n}", "organization": org})
    return people


def _created(rng: random.Random, start: datetime, end: datetime, now: datetime) -> datetime:
    roll = rng.random()
    share = rng.random()
    if roll < 0.08:  # weeks before the period, mostly its last days: events inside it
        low, high = start - timedelta(days=21), start
        share = share**0.25
    elif roll < 0.9:
        low, high = start, end
    elif roll < 0.98:  # after the period's end, up to now
        low, high = end, now - timedelta(minutes=1)
    else:  # the last hours before now: still running at now
        low, high = now - timedelta(hours=8), now - timedelta(minutes=1)
    at = low + (high - low) * share
    return at.replace(microsecond=0) if rng.random() < 0.5 else at


EDGE_KINDS = ("created", "first_reply", "solve", "reopen", "rating", "escalate", "raise")


def on_edge(rng: random.Random, number: int, edge: datetime, kind: str, now: datetime, customers: list[dict]) -> dict:
    """A ticket with one event exactly on ``edge`` (a period's start or end): its creation, first reply, a solve, a
    reopen, a rating, an escalation or a priority raise that breaches."""
    if kind == "created":
        return ticket(rng, number, edge, now, customers)
    created = edge - timedelta(hours=5)
    line = ticket(rng, number, created, created, customers)  # its fields (the events are lived below)
    life = Life(rng=rng, now=now, created=created, priority="medium", requester=line["requester"]["email"])
    staff = rng.choice(AGENTS)
    try:
        life.assign(life.later(timedelta(minutes=5)), staff)
        if kind == "first_reply":
            life.reply(edge, author=staff)
        else:
            life.reply(life.later(timedelta(minutes=30), exact=True), author=staff)
        if kind == "solve":
            life.set_status(edge, "solved", author=staff)
        elif kind in ("reopen", "rating"):
            life.set_status(life.later(timedelta(minutes=40), exact=True), "solved", author=staff)
            if kind == "rating":
                life.rate(edge)
            else:
                life.reply(edge, staff=False)
                life.set_status(edge, "open", author=life.requester)
        elif kind == "escalate":
            life.escalate(edge)
        elif kind == "raise":  # 5 hours elapsed: above the critical resolution limit (4 hours) at the raise
            life.set_priority(edge, "critical")
        _solve(life)
        _after_solve(life)
    except Stop:
        pass
    line.update(priority="medium", events=life.events)
    return line


def generate(
    seed: int,
    tickets: int,
    *,
    start: datetime = DEFAULT_START,
    end: datetime = DEFAULT_END,
    now: datetime = DEFAULT_NOW,
    edges: tuple[datetime, ...] = (),
) -> list[dict]:
    """``tickets`` histories in the import format, the same for the same ``seed``; for each of ``edges`` (and the
    start and end) a few more with an event exactly on it, or a microsecond before it."""
    rng = random.Random(seed)
    customers = _customers(rng)
    created = sorted(_created(rng, start, end, now) for _ in range(tickets))
    lines = [ticket(rng, number, at, now, customers) for number, at in enumerate(created, 1)]
    # Untouched critical tickets whose first response falls due exactly at now (not breached: the clock has not run
    # on past it), a microsecond before now (breached) and a microsecond after (at risk).
    for shift in (ZERO_GAP, timedelta(microseconds=1), timedelta(microseconds=-1)):
        created = now - timedelta(minutes=LIMITS["critical"][0]) - shift
        line = ticket(rng, len(lines) + 1, created, created, customers)
        lines.append({**line, "priority": "critical", "events": []})
    for edge in sorted({start, end, *edges}):
        for at in (edge, edge - timedelta(microseconds=1)):
            for kind in EDGE_KINDS:
                lines.append(on_edge(rng, len(lines) + 1, at, kind, now, customers))
    return lines
