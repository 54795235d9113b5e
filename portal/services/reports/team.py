"""The team summary of a period (the figures a manager steers by), cut from ``ReportData``."""

from __future__ import annotations

from collections import Counter
from math import fsum
from statistics import median
from typing import Any

from portal.services import cost
from portal.services.reports.decisions import BREACHED, MET, TARGETS
from portal.services.reports.facts import PRIORITIES, ReportData
from portal.services.reports.periods import iso

# The seed's targets, shown beside the figures: response SLA ≥ 95 %, resolution SLA ≥ 90 %, CSAT above 4.5.
TARGETS_OF_SEED = {"response_sla": 0.95, "resolution_sla": 0.90, "csat": 4.5}


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def average(values: list[float]) -> float | None:
    return fsum(values) / len(values) if values else None


def targets_met(response_rate: float | None, resolution_rate: float | None, csat: float | None) -> dict:
    """Green (True) or red (False) beside each target; None when there is nothing to judge."""
    return {
        "response_sla": None if response_rate is None else response_rate >= TARGETS_OF_SEED["response_sla"],
        "resolution_sla": None if resolution_rate is None else resolution_rate >= TARGETS_OF_SEED["resolution_sla"],
        "csat": None if csat is None else csat > TARGETS_OF_SEED["csat"],
    }


def _sla(data: ReportData, target: str) -> dict[str, Any]:
    counts = data.decision_counts
    met = sum(n for (t, verdict, _p), n in counts.items() if t == target and verdict == MET)
    breached = sum(n for (t, verdict, _p), n in counts.items() if t == target and verdict == BREACHED)
    return {"met": met, "breached": breached, "rate": ratio(met, met + breached)}


def _violations(data: ReportData) -> dict[str, dict[str, int]]:
    table = {p: dict.fromkeys(TARGETS, 0) for p in PRIORITIES}
    for (target, verdict, priority), n in data.decision_counts.items():
        if verdict == BREACHED:
            table.setdefault(priority or "medium", dict.fromkeys(TARGETS, 0))[target] += n
    return table


def _csat(data: ReportData) -> dict[str, Any]:
    ratings = [r.rating for r in data.ratings]
    return {
        "responses": len(ratings),
        "average": average(ratings),
        "satisfied_rate": ratio(sum(1 for r in ratings if r >= 4), len(ratings)),
    }


def kb_summary(data: ReportData) -> dict[str, Any]:
    """``{"total", "published", "updated", "by_author": [{"id", "name", "count", "published", "updated"}]}``,
    authors by count (highest first), then name; ``id``/``name`` None for a deleted author."""
    by_author: dict[int | None, Counter] = {}
    for contribution in data.kb_contributions:
        by_author.setdefault(contribution.author_id, Counter())[contribution.kind] += 1
    names = data.names(by_author)
    rows = [
        {
            "id": author_id,
            "name": names.get(author_id),
            "count": counts["published"] + counts["updated"],
            "published": counts["published"],
            "updated": counts["updated"],
        }
        for author_id, counts in by_author.items()
    ]
    rows.sort(key=lambda r: (-r["count"], r["name"] or "", r["id"] or 0))
    kinds = Counter(c.kind for c in data.kb_contributions)
    return {
        "total": len(data.kb_contributions),
        "published": kinds["published"],
        "updated": kinds["updated"],
        "by_author": rows,
    }


def summary(data: ReportData) -> dict[str, Any]:
    """The team figures of ``data``'s period (see the package docstring for the shape)."""
    created, solved = len(data.created), len(data.solves)
    response, resolution = _sla(data, "first_response"), _sla(data, "resolution")
    decided = response["met"] + response["breached"] + resolution["met"] + resolution["breached"]
    delays = [f.minutes for f in data.first_responses.values()]
    open_by_priority = dict.fromkeys(PRIORITIES, 0)
    for priority in data.open_at_end.values():
        open_by_priority[priority] = open_by_priority.get(priority, 0) + 1
    csat = _csat(data)
    return {
        "period": data.period.as_dict(),
        "generated_at": iso(data.now),
        "tickets_created": created,
        "tickets_solved": solved,
        "response_sla": response,
        "resolution_sla": resolution,
        "sla_compliance": ratio(response["met"] + resolution["met"], decided),
        "sla_violations": _violations(data),
        "avg_first_response_minutes": average(delays),
        "median_first_response_minutes": median(delays) if delays else None,
        "avg_resolution_minutes": average([data.resolution_minutes(t) for t in data.solves]),
        "fcr_rate": ratio(len(data.fcr), solved),
        "escalation_rate": ratio(len(data.escalated_created), created),
        "reopen_rate": ratio(len(data.reopened), solved),
        "csat": csat,
        "open_at_end": len(data.open_at_end),
        "open_at_end_by_priority": open_by_priority,
        "kb_contributions": kb_summary(data),
        "cost_per_ticket": cost.cost_per_ticket(created, data.period.days),
        "targets": dict(TARGETS_OF_SEED),
        "targets_met": targets_met(response["rate"], resolution["rate"], csat["average"]),
    }
