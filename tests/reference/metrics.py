"""An independent reference computation of the operations metrics, written from their definitions alone.

It reads ticket histories in the import format (the dicts of JSON Lines) and computes, as of an instant ``now``:

- per ticket and SLA target (``first_response``, ``resolution``) the verdict: state, due instant, achievement,
  breach instant and the priority in force at the breach (``verdicts``);
- the team summary of a period (``summary``) and the individual figures per staff member (``agents``).

The policy is the default one, 24/7: limits per priority (critical 15 min / 4 h, high 1 h / 8 h, medium 4 h / 24 h,
low 24 h / 72 h), at risk at 75 % of the limit, the resolution clock paused while the ticket is pending or solved.

How the clocks are read (from the definitions):

- Elapsed time is wall-clock from creation; for the resolution target, time spent in a pause status does not count.
  The first-response target never pauses.
- The limit is the one of the priority in force at each instant; a priority change re-targets from creation.
- First response is achieved by the first public reply of a staff member, or by the first entry into solved, whichever
  comes first. Resolution is achieved by entering solved; leaving solved for anything but closed (a reopen) withdraws
  the achievement, so the last entry into solved counts.
- A target is breached at the first instant its elapsed time exceeds the limit while not achieved: the instant a
  running clock reaches its limit when it runs on past it, or the instant of a priority raise or a reopen that leaves
  the elapsed time above the limit (also while paused). Reaching the limit exactly and then pausing or being achieved
  is not a breach. A breach is never undone. Events with equal instants apply one at a time, in their order.
- Verdict: breached, else met, else running: paused (the resolution clock in a pause status), at_risk (elapsed at
  least 75 % of the limit in force now) or ok.
- Due: the instant the elapsed time reached (or will reach) the limit of the priority now in force — the elapsed time
  as it was up to the achievement and running on from there for an achieved target, as it was up to now and running
  on (unless paused) for the others; none while paused short of the limit.

Everything is pure Python over the dicts; nothing of the portal is imported.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PRIORITIES = ("critical", "high", "medium", "low")
TARGETS = ("first_response", "resolution")
DEFAULT_LIMITS = {"critical": (15, 240), "high": (60, 480), "medium": (240, 1440), "low": (1440, 4320)}
PAUSE_STATUSES = frozenset({"pending", "solved"})
AT_RISK_PERCENT = 75
ANNUAL_COST = 949_000
ZERO = timedelta(0)
MINUTE = timedelta(minutes=1)


# --------------------------------------------------------------------------- reading the lines


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset, up to microseconds) as an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Event:
    index: int  # position in the ticket's history (0-based, file order)
    at: datetime
    type: str
    author: str | None  # lower-cased email, None for the System
    staff: bool  # the author is a staff member
    data: dict[str, Any]

    @property
    def to(self) -> Any:
        return self.data.get("to")

    @property
    def public_staff_reply(self) -> bool:
        return self.type == "reply" and self.data["public"] is True and self.staff


@dataclass(frozen=True)
class History:
    external_id: str
    created_at: datetime
    priority: str  # at creation
    requester: str
    events: tuple[Event, ...]


def read(line: dict[str, Any]) -> History:
    """One import line as a history. Authors other than the requester (and not the System) are staff."""
    requester = line["requester"]["email"].strip().lower()
    events = []
    for index, raw in enumerate(line.get("events", [])):
        author = raw.get("author")
        author = author.strip().lower() if isinstance(author, str) else None
        to = raw.get("to")
        data = dict(raw)
        if raw["type"] == "assign" and isinstance(to, str):
            data["to"] = to.strip().lower()
        events.append(
            Event(
                index=index,
                at=parse_instant(raw["at"]),
                type=raw["type"],
                author=author,
                staff=author is not None and author != requester,
                data=data,
            )
        )
    return History(
        external_id=line["external_id"],
        created_at=parse_instant(line["created_at"]),
        priority=line["priority"],
        requester=requester,
        events=tuple(events),
    )


# --------------------------------------------------------------------------- SLA verdicts


@dataclass(frozen=True)
class Verdict:
    state: str  # ok, at_risk, paused, met, breached
    due: datetime | None
    achieved_at: datetime | None
    breached_at: datetime | None
    breach_priority: str | None
    decided_at: datetime | None  # breach instant if breached, else achievement instant if met, else None
    decided_assignee: str | None  # who was assigned at the decision instant (after the deciding event)

    @property
    def verdict(self) -> str | None:
        return self.state if self.state in ("met", "breached") else None


@dataclass
class _Clock:
    """The replay of one target: elapsed time is a piecewise linear function kept as its breakpoints."""

    elapsed: timedelta = ZERO
    since: datetime | None = None  # the instant ``elapsed`` is measured at
    running: bool = True
    breakpoints: list[tuple[datetime, timedelta, bool]] = field(default_factory=list)  # (instant, elapsed, running)

    def reach(self, limit: timedelta, end: datetime, run_on: bool) -> datetime | None:
        """The first instant at which the elapsed time reaches ``limit``: as it was up to ``end``, then running on
        after ``end`` if ``run_on`` (else standing still: None when short of the limit)."""
        points = [*self.breakpoints, (self.since, self.elapsed, self.running)]
        at_end = ZERO
        for (start, elapsed, running), (nxt, _, _) in zip(points, [*points[1:], (end, None, None)], strict=True):
            if start >= end:
                break
            if elapsed >= limit:
                return start
            span = min(nxt, end) - start if running else ZERO
            if elapsed + span >= limit:
                return start + (limit - elapsed)
            at_end = elapsed + span
        return end + (limit - at_end) if run_on else None

    def mark(self) -> None:
        self.breakpoints.append((self.since, self.elapsed, self.running))


def _verdict(history: History, target: str, now: datetime, limits: dict[str, tuple[int, int]]) -> Verdict:
    column = TARGETS.index(target)
    limit_of = {p: timedelta(minutes=limits[p][column]) for p in PRIORITIES}
    clock = _Clock(since=history.created_at)
    priority, status, assignee = history.priority, "new", None
    achieved_at = achieved_assignee = None
    breached_at = breach_priority = breach_assignee = None

    def advance(to: datetime) -> None:
        nonlocal breached_at, breach_priority, breach_assignee
        span = to - clock.since
        if span <= ZERO:
            return
        if clock.running and achieved_at is None and breached_at is None:
            limit = limit_of[priority]
            if clock.elapsed + span > limit:  # the clock runs on past its limit within this span
                breached_at = clock.since + max(limit - clock.elapsed, ZERO)
                breach_priority, breach_assignee = priority, assignee
        if clock.running:
            clock.elapsed += span
        clock.since = to
        clock.mark()

    def breach_now(at: datetime) -> None:
        nonlocal breached_at, breach_priority, breach_assignee
        if achieved_at is None and breached_at is None and clock.elapsed > limit_of[priority]:
            breached_at, breach_priority, breach_assignee = at, priority, assignee

    def achieve(event: Event) -> None:
        nonlocal achieved_at, achieved_assignee
        achieved_at, achieved_assignee = event.at, assignee

    clock.mark()
    for event in history.events:
        advance(event.at)
        if event.type == "assign":
            assignee = event.to
        elif event.type == "priority":
            priority = event.to
            breach_now(event.at)
        elif event.type == "reply":
            if target == "first_response" and event.public_staff_reply and achieved_at is None:
                achieve(event)
        elif event.type == "status":
            old, status = status, event.to
            if target == "first_response":
                if status == "solved" and achieved_at is None:
                    achieve(event)
            else:
                reopen = old == "solved" and status != "closed"
                if status == "solved":
                    achieve(event)
                elif reopen:  # withdraws the achievement; the clock runs on (unless paused)
                    achieved_at = achieved_assignee = None
                clock.running = status not in PAUSE_STATUSES and status != "closed"
                if reopen:
                    breach_now(event.at)
        clock.mark()
    advance(now)

    limit = limit_of[priority]  # the due instant is read with the limit now in force (re-targeted from creation)
    if breached_at is not None:
        state = "breached"
    elif achieved_at is not None:
        state = "met"
    elif not clock.running:
        state = "paused"
    else:
        state = "at_risk" if clock.elapsed * 100 >= limit * AT_RISK_PERCENT else "ok"
    # Elapsed time as it was up to the achievement (then running on) or up to now (then as the clock is now).
    due = clock.reach(limit, achieved_at or now, run_on=achieved_at is not None or clock.running)
    return Verdict(
        state=state,
        due=due,
        achieved_at=achieved_at,
        breached_at=breached_at,
        breach_priority=breach_priority,
        decided_at=breached_at or achieved_at,
        decided_assignee=breach_assignee if breached_at is not None else achieved_assignee,
    )


def verdicts(
    history: History, now: datetime, limits: dict[str, tuple[int, int]] = DEFAULT_LIMITS
) -> dict[str, Verdict]:
    """The verdict of both targets of ``history`` as of ``now``."""
    return {target: _verdict(history, target, now, limits) for target in TARGETS}


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with Z, microseconds when there are any."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- facts per ticket


@dataclass(frozen=True)
class Solve:
    event: Event
    assignee: str | None  # after the event


@dataclass
class Facts:
    """What the figures read of one ticket, derived once."""

    history: History
    verdicts: dict[str, Verdict]
    solves: list[Solve]
    reopens: list[Event]  # leaving solved for a status other than closed
    staff_replies: list[Event]  # public replies by staff
    escalations: list[Event]
    ratings: list[tuple[Event, str | None]]  # the rating and the assignee at that instant

    @property
    def created_at(self) -> datetime:
        return self.history.created_at

    @property
    def first_reply(self) -> Event | None:
        return self.staff_replies[0] if self.staff_replies else None

    def state_before(self, end: datetime) -> tuple[str, str]:
        """(status, priority) replaying the events strictly before ``end``."""
        status, priority = "new", self.history.priority
        for event in self.history.events:
            if event.at >= end:
                break
            if event.type == "status":
                status = event.to
            elif event.type == "priority":
                priority = event.to
        return status, priority


def facts(history: History, now: datetime) -> Facts:
    assignee, status = None, "new"
    solves, reopens, replies, escalations, ratings = [], [], [], [], []
    for event in history.events:
        if event.type == "assign":
            assignee = event.to
        elif event.type == "status":
            old, status = status, event.to
            if status == "solved":
                solves.append(Solve(event, assignee))
            elif old == "solved" and status != "closed":
                reopens.append(event)
        elif event.public_staff_reply:
            replies.append(event)
        elif event.type == "escalate":
            escalations.append(event)
        elif event.type == "csat":
            ratings.append((event, assignee))
    return Facts(history, verdicts(history, now), solves, reopens, replies, escalations, ratings)


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC
    end: datetime
    days: int

    def __contains__(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


def period(first: date, after: date, tz: str = "UTC") -> Period:
    """``[first, after)`` as calendar dates in ``tz``: local midnights converted to UTC."""
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    end = datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
    return Period(start, end, (after - first).days)


# --------------------------------------------------------------------------- the figures


def _minutes(delta: timedelta) -> float:
    return delta / MINUTE


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _last_solve_in(f: Facts, p: Period) -> Solve | None:
    inside = [s for s in f.solves if s.event.at in p]
    return inside[-1] if inside else None


def _first_contact(f: Facts, solve: Solve) -> bool:
    """One public staff reply before the solve (in event order) and never reopened."""
    before = [r for r in f.staff_replies if r.index < solve.event.index]
    return len(before) == 1 and not f.reopens


def _resolution_figures(tickets: list[Facts], p: Period) -> tuple[float | None, float | None]:
    """(avg_resolution_minutes, fcr_rate) over ``tickets``, each solved in ``p``."""
    minutes, first_contact = [], 0
    for f in tickets:
        solve = _last_solve_in(f, p)
        minutes.append(_minutes(solve.event.at - f.created_at))
        first_contact += _first_contact(f, solve)
    return _mean(minutes), _rate(first_contact, len(tickets))


def summary(all_facts: list[Facts], p: Period, annual_cost: float = ANNUAL_COST) -> dict[str, Any]:
    """The team figures of the period."""
    created = [f for f in all_facts if f.created_at in p]
    solved = [f for f in all_facts if any(s.event.at in p for s in f.solves)]
    decided = {t: {"met": 0, "breached": 0} for t in TARGETS}
    violations = {pr: dict.fromkeys(TARGETS, 0) for pr in PRIORITIES}
    for f in all_facts:
        for target, v in f.verdicts.items():
            if v.decided_at in p:
                decided[target][v.state] += 1
            if v.breached_at in p:
                violations[v.breach_priority][target] += 1
    response = [_minutes(f.first_reply.at - f.created_at) for f in all_facts if f.first_reply and f.first_reply.at in p]
    avg_resolution, fcr = _resolution_figures(solved, p)
    escalated = [f for f in created if any(e.at in p for e in f.escalations)]
    reopened = [f for f in all_facts if any(e.at in p for e in f.reopens)]
    ratings = [e.data["rating"] for f in all_facts for e, _ in f.ratings if e.at in p]
    open_by_priority = dict.fromkeys(PRIORITIES, 0)
    for f in all_facts:
        if f.created_at < p.end:
            status, priority = f.state_before(p.end)
            if status not in ("solved", "closed"):
                open_by_priority[priority] += 1
    fr, res = decided["first_response"], decided["resolution"]
    all_four = fr["met"] + fr["breached"] + res["met"] + res["breached"]
    return {
        "tickets_created": len(created),
        "tickets_solved": len(solved),
        "response_sla": {**fr, "rate": _rate(fr["met"], fr["met"] + fr["breached"])},
        "resolution_sla": {**res, "rate": _rate(res["met"], res["met"] + res["breached"])},
        "sla_compliance": _rate(fr["met"] + res["met"], all_four),
        "sla_violations": violations,
        "avg_first_response_minutes": _mean(response),
        "median_first_response_minutes": statistics.median(response) if response else None,
        "avg_resolution_minutes": avg_resolution,
        "fcr_rate": fcr,
        "escalation_rate": _rate(len(escalated), len(created)),
        "reopen_rate": _rate(len(reopened), len(solved)),
        "csat": {
            "responses": len(ratings),
            "average": _mean([float(r) for r in ratings]),
            "satisfied_rate": _rate(sum(r >= 4 for r in ratings), len(ratings)),
        },
        "open_at_end": sum(open_by_priority.values()),
        "open_at_end_by_priority": open_by_priority,
        "kb_contributions": 0,
        "cost_per_ticket": (annual_cost * p.days / 365 / len(created)) if created else None,
    }


def agents(all_facts: list[Facts], p: Period, staff: list[str]) -> dict[str, dict[str, Any]]:
    """The individual figures of the period per staff email (every one of ``staff`` appears)."""
    figures = {}
    for person in staff:
        resolved = [f for f in all_facts if any(s.event.at in p and s.assignee == person for s in f.solves)]
        avg_resolution, fcr = _resolution_figures(resolved, p)
        delays = [
            _minutes(f.first_reply.at - f.created_at)
            for f in all_facts
            if f.first_reply and f.first_reply.at in p and f.first_reply.author == person
        ]
        met = breached = 0
        for f in all_facts:
            for v in f.verdicts.values():
                if v.decided_at in p and v.decided_assignee == person:
                    met += v.state == "met"
                    breached += v.state == "breached"
        ratings = [e.data["rating"] for f in all_facts for e, who in f.ratings if e.at in p and who == person]
        figures[person] = {
            "resolved": len(resolved),
            "resolved_per_day": len(resolved) / p.days,
            "avg_resolution_minutes": avg_resolution,
            "fcr_rate": fcr,
            "first_responses": len(delays),
            "avg_first_response_minutes": _mean(delays),
            "sla_compliance": _rate(met, met + breached),
            "csat_average": _mean([float(r) for r in ratings]),
            "csat_responses": len(ratings),
            "escalations_made": sum(1 for f in all_facts for e in f.escalations if e.at in p and e.author == person),
            "kb_contributions": 0,
        }
    return figures
