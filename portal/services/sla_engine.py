"""The SLA clock engine: a pure function from a ticket's history to its SLA facts.

Everything that states an SLA fact — the live services after each change, the sweep, the API, the pages, the
history import and the reports — gets it from ``evaluate``. It touches no database and reads no clock: the caller
passes the history, the policy and ``now``.

The rules, per target (``first_response``, ``resolution``):

- The *limit* is the policy's minutes for the priority in force at that instant.
- *Elapsed* time is working time (the policy's calendar; 24/7 without one) from creation. The resolution clock does
  not count time in a pause status (default ``pending``, ``solved``) nor in ``solved``/``closed``; the
  first-response clock never pauses.
- ``first_response`` is achieved at the first public staff reply or the first entry into ``solved``, whichever is
  earlier. ``resolution`` is achieved at the entry into ``solved``; a reopen (leaving ``solved`` for anything but
  ``closed``) withdraws it, so the last entry into ``solved`` counts.
- A target breaches at the first instant its elapsed time exceeds its limit while it is not achieved: the due
  instant of a clock that runs on past it (a clock that pauses or is achieved exactly at the limit does not breach),
  or the instant of a priority raise or a reopen that leaves the elapsed time above the limit (also while paused).
  A breach is a fact: nothing undoes it.
- The state of a target: ``breached`` if it breached; else ``met`` if achieved; else ``paused`` (resolution in a
  pause status), ``at_risk`` (elapsed ≥ the at-risk share of the limit, inclusive) or ``ok``.

Events with equal instants apply one at a time, in their order. Instants keep their sub-second precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
TARGETS = (FIRST_RESPONSE, RESOLUTION)
SOLVED, CLOSED = "solved", "closed"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZERO = timedelta(0)


# --------------------------------------------------------------------------- calendars


@dataclass(frozen=True)
class WorkCalendar:
    """Weekly working hours in a time zone (``{"mon": [["09:00", "17:00"]], ...}``, local wall-clock, so DST is
    honoured) and holidays. ``None`` in place of a calendar means 24/7."""

    timezone: str = "UTC"
    weekly_hours: dict[str, list[list[str]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of a local calendar date, as UTC instants."""
        if day in self.holidays:
            return []
        zone = ZoneInfo(self.timezone)
        result = []
        for opens, closes in self.weekly_hours.get(WEEKDAYS[day.weekday()], []):
            start = datetime.combine(day, time.fromisoformat(opens), zone).astimezone(UTC)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), zone)
                if closes in ("24:00", "24:00:00")
                else datetime.combine(day, time.fromisoformat(closes), zone)
            ).astimezone(UTC)
            if end > start:
                result.append((start, end))
        return sorted(result)

    def _days_from(self, instant: datetime) -> Iterable[date]:
        day = instant.astimezone(ZoneInfo(self.timezone)).date() - timedelta(days=1)
        for _ in range(3700):  # ten years at most: a calendar without hours never finishes
            yield day
            day += timedelta(days=1)
        raise ValueError("the calendar has no working hours")

    def working(self, start: datetime, end: datetime) -> timedelta:
        """Working time in ``[start, end)``."""
        total = ZERO
        if end <= start:
            return total
        for day in self._days_from(start):
            for opens, closes in self.intervals(day):
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            if datetime.combine(day, time(0), ZoneInfo(self.timezone)).astimezone(UTC) > end:
                return total
        return total

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant at which ``amount`` of working time has passed since ``start``."""
        if amount <= ZERO:
            return start
        remaining = amount
        for day in self._days_from(start):
            for opens, closes in self.intervals(day):
                lo = max(opens, start)
                if closes <= lo:
                    continue
                if closes - lo >= remaining:
                    return lo + remaining
                remaining -= closes - lo
        raise ValueError("the calendar has no working hours")  # pragma: no cover - _days_from raises first


def working(calendar: WorkCalendar | None, start: datetime, end: datetime) -> timedelta:
    if calendar is None:
        return max(end - start, ZERO)
    return calendar.working(start, end)


def add_working(calendar: WorkCalendar | None, start: datetime, amount: timedelta) -> datetime:
    if calendar is None:
        return start + max(amount, ZERO)
    return calendar.add(start, amount)


# --------------------------------------------------------------------------- inputs and outputs


@dataclass(frozen=True)
class Policy:
    """Targets per priority in minutes ``{"high": (60, 480), ...}``, the at-risk share, the pause statuses and the
    calendar (None: 24/7)."""

    targets: dict[str, tuple[int, int]]
    at_risk_percent: int = 75
    pause_statuses: frozenset[str] = frozenset({"pending", SOLVED})
    calendar: WorkCalendar | None = None

    def limit(self, priority: str, target: str) -> timedelta:
        first, resolution = self.targets[priority]
        return timedelta(minutes=first if target == FIRST_RESPONSE else resolution)


@dataclass(frozen=True)
class Step:
    """One event of the history that the clocks care about: ``kind`` is ``status`` (value: the new status),
    ``priority`` (value: the new priority) or ``staff_reply`` (a public reply by a staff member)."""

    at: datetime
    kind: str
    value: str | None = None


@dataclass(frozen=True)
class TargetFacts:
    target: str
    state: str  # ok, at_risk, paused, met, breached
    due: datetime | None  # when the limit is (or was) reached on the running clock; None while paused or decided
    risk_at: datetime | None  # when the at-risk share is reached on the running clock
    achieved_at: datetime | None
    breached_at: datetime | None
    breach_priority: str | None
    limit: timedelta
    elapsed: timedelta
    paused_since: datetime | None = None  # resolution: when the clock last paused, while it is paused
    paused: timedelta = ZERO  # resolution: wall-clock time spent paused so far
    risk_reached_at: datetime | None = None  # when the elapsed time first reached the at-risk share unachieved
    ticking: bool = False  # the clock runs now (not achieved, not paused)

    @property
    def decided_at(self) -> datetime | None:
        """The breach instant of a breached target, the achievement instant of a met one; None while running."""
        return self.breached_at or self.achieved_at

    @property
    def running(self) -> bool:
        return self.state in ("ok", "at_risk", "paused")


@dataclass(frozen=True)
class Facts:
    first_response: TargetFacts
    resolution: TargetFacts

    def __iter__(self):
        return iter((self.first_response, self.resolution))

    def __getitem__(self, target: str) -> TargetFacts:
        return self.first_response if target == FIRST_RESPONSE else self.resolution


# --------------------------------------------------------------------------- the engine


@dataclass
class _Clock:
    target: str
    elapsed: timedelta = ZERO
    achieved_at: datetime | None = None
    breached_at: datetime | None = None
    breach_priority: str | None = None
    ever_achieved: bool = False
    paused_since: datetime | None = None
    paused: timedelta = ZERO
    risk_reached_at: datetime | None = None
    segments: list[tuple[datetime, datetime, timedelta]] = field(default_factory=list)  # running: start, end, elapsed

    def reach(self, calendar: WorkCalendar | None, amount: timedelta, origin: datetime) -> datetime | None:
        """The earliest instant at which the elapsed time reached ``amount`` (None: not yet)."""
        if amount <= ZERO:
            return origin
        for start, end, before in self.segments:
            if before + working(calendar, start, end) >= amount:
                return add_working(calendar, start, amount - before)
        return None


def evaluate(
    created_at: datetime, priority: str, steps: Sequence[Step], policy: Policy, now: datetime, status: str = "new"
) -> Facts:
    """The SLA facts of a ticket created at ``created_at`` with ``priority`` (and ``status``), whose clock-relevant
    history is ``steps`` (in order), as of ``now``. Steps after ``now`` are ignored."""
    calendar = policy.calendar
    share = policy.at_risk_percent / 100
    clocks = {t: _Clock(t) for t in TARGETS}
    cursor = created_at

    def runs(clock: _Clock) -> bool:
        if clock.achieved_at is not None:
            return False
        if clock.target == RESOLUTION:
            return status not in policy.pause_statuses and status not in (SOLVED, CLOSED)
        return True

    def breach_if_over(clock: _Clock, at: datetime) -> None:
        """A raise or a reopen that leaves the elapsed time above the limit breaches at that instant (and one at or
        above the at-risk share puts it at risk)."""
        if clock.achieved_at is not None:
            return
        limit = policy.limit(priority, clock.target)
        if clock.breached_at is None and clock.elapsed > limit:
            clock.breached_at, clock.breach_priority = at, priority
        if clock.risk_reached_at is None and clock.elapsed >= limit * share:
            clock.risk_reached_at = at

    def advance(until: datetime) -> None:
        nonlocal cursor
        if until <= cursor:
            return
        for clock in clocks.values():
            if not runs(clock):
                continue
            gained = working(calendar, cursor, until)
            if gained <= ZERO:
                continue
            limit = policy.limit(priority, clock.target)
            if clock.breached_at is None and clock.elapsed + gained > limit:
                due = add_working(calendar, cursor, limit - clock.elapsed)
                clock.breached_at, clock.breach_priority = max(due, cursor), priority
            if clock.risk_reached_at is None and clock.elapsed + gained >= limit * share:
                clock.risk_reached_at = max(add_working(calendar, cursor, limit * share - clock.elapsed), cursor)
            clock.segments.append((cursor, until, clock.elapsed))
            clock.elapsed += gained
        cursor = until

    def achieve(clock: _Clock, at: datetime) -> None:
        if clock.achieved_at is None:
            clock.achieved_at, clock.ever_achieved = at, True

    for step in steps:
        if step.at > now:
            break
        advance(step.at)
        if step.kind == "priority" and step.value:
            priority = step.value
            for clock in clocks.values():
                breach_if_over(clock, step.at)
        elif step.kind == "staff_reply":
            achieve(clocks[FIRST_RESPONSE], step.at)
        elif step.kind == "status" and step.value:
            resolution = clocks[RESOLUTION]
            old, status = status, step.value
            if status == SOLVED:
                achieve(clocks[FIRST_RESPONSE], step.at)
                achieve(clocks[RESOLUTION], step.at)
            elif old == SOLVED and status != CLOSED:
                clocks[RESOLUTION].achieved_at = None  # a reopen withdraws the achievement
                breach_if_over(clocks[RESOLUTION], step.at)
            _track_pause(resolution, _pausing(status, policy), step.at)
    advance(now)
    resolution = clocks[RESOLUTION]
    if resolution.paused_since is not None:
        resolution.paused += max(now - resolution.paused_since, ZERO)
    return Facts(*(_facts(clocks[t], runs(clocks[t]), priority, policy, now, share, created_at) for t in TARGETS))


def _instant(
    clock: _Clock, running: bool, amount: timedelta, calendar: WorkCalendar | None, now: datetime, created: datetime
) -> datetime | None:
    """When the elapsed time reaches ``amount`` under the limit now in force: the past instant it did, the instant it
    will on the running clock, the instant it would have had the clock run on from the achievement; None while
    paused short of it."""
    reached = clock.reach(calendar, amount, created)
    if reached is not None:
        return reached
    if clock.achieved_at is not None:
        return add_working(calendar, clock.achieved_at, amount - clock.elapsed)
    if running:
        return add_working(calendar, now, amount - clock.elapsed)
    return None


def _pausing(status: str, policy: Policy) -> bool:
    return status in policy.pause_statuses or status in (SOLVED, CLOSED)


def _track_pause(clock: _Clock, paused_now: bool, at: datetime) -> None:
    """Wall-clock bookkeeping of the resolution clock's pauses (for display; SLA time is the working time)."""
    if paused_now and clock.paused_since is None:
        clock.paused_since = at
    elif not paused_now and clock.paused_since is not None:
        clock.paused += max(at - clock.paused_since, ZERO)
        clock.paused_since = None


def _facts(
    clock: _Clock, running: bool, priority: str, policy: Policy, now: datetime, share: float, created: datetime
) -> TargetFacts:
    limit = policy.limit(priority, clock.target)
    due = _instant(clock, running, limit, policy.calendar, now, created)
    risk_at = _instant(clock, running, limit * share, policy.calendar, now, created)
    if clock.breached_at is not None:
        state = "breached"
    elif clock.achieved_at is not None:
        state = "met"
    elif not running:
        state = "paused"
    elif clock.elapsed >= limit * share:
        state = "at_risk"
    else:
        state = "ok"
    return TargetFacts(
        target=clock.target,
        state=state,
        due=due,
        risk_at=risk_at,
        achieved_at=clock.achieved_at,
        breached_at=clock.breached_at,
        breach_priority=clock.breach_priority,
        limit=limit,
        elapsed=clock.elapsed,
        paused_since=clock.paused_since if clock.target == RESOLUTION else None,
        paused=clock.paused,
        risk_reached_at=clock.risk_reached_at,
        ticking=running,
    )
