"""The SLA sweep over a backlog: batched dedupe look-ups, several escalations of one ticket in one sweep, and the
outbox holding one row per fact (bench/bench_sla.py measures the speed)."""

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutboxMessage, SlaEvent, TierSpan
from portal.services import outbox, sla_sweep
from tests.test_sla import T0, clock, new_ticket, people  # noqa: F401 (fixtures)


def test_known_dedupe_keys_answers_from_one_lookup_and_remembers_new_rows():
    stored = outbox.emit("notify.sla_breach", {"ticket_id": 1}, dedupe_key="sla:1:first_response:notify.sla_breach")
    db.session.commit()
    with outbox.known_dedupe_keys(["sla:1:first_response:notify.sla_breach", "sla:2:resolution:notify.sla_at_risk"]):
        assert db.session.info[outbox._KNOWN_KEYS]
        again = outbox.emit("notify.sla_breach", {"ticket_id": 1}, dedupe_key="sla:1:first_response:notify.sla_breach")
        first = outbox.emit("notify.sla_at_risk", {"ticket_id": 2}, dedupe_key="sla:2:resolution:notify.sla_at_risk")
        db.session.flush()
        second = outbox.emit("notify.sla_at_risk", {"ticket_id": 2}, dedupe_key="sla:2:resolution:notify.sla_at_risk")
        other = outbox.emit("notify.x", {}, dedupe_key="not-preloaded")
        assert outbox.emit("notify.x", {}, dedupe_key="not-preloaded") is other
    db.session.commit()
    assert outbox._KNOWN_KEYS not in db.session.info
    assert again.id == stored.id and first is second
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 3


def test_backlog_sweep_escalates_twice_records_each_fact_once_and_is_idempotent(clock, people):  # noqa: F811
    critical = new_ticket(people, "critical")
    medium = new_ticket(people, "medium")
    stats = sla_sweep.run_sweep(T0 + timedelta(hours=5))  # critical: both targets at risk and breached; medium: FR only
    db.session.commit()
    assert stats == {"checked": 2, "at_risk": 3, "breached": 3, "escalated": 3}
    assert critical.tier.value == "manager" and medium.tier.value == "L2"
    keys = [
        k for (k,) in db.session.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.is_not(None)))
    ]
    assert len(keys) == len(set(keys))
    kinds = Counter(db.session.scalars(select(OutboxMessage.kind)))
    assert kinds["notify.sla_at_risk"] == 3 and kinds["notify.sla_breach"] == 3 and kinds["notify.escalation"] == 3
    assert kinds["notify.sla_manager_alert"] == 2  # the critical ticket's two at-risk targets
    spans = db.session.scalars(select(TierSpan).where(TierSpan.ticket_id == critical.id).order_by(TierSpan.id)).all()
    assert [s.tier.value for s in spans] == ["L1", "L2", "manager"]
    assert [s.ended_at is None for s in spans] == [False, False, True]
    rows = db.session.scalar(select(func.count(OutboxMessage.id)))
    assert sla_sweep.run_sweep(T0 + timedelta(hours=5)) == {"checked": 0, "at_risk": 0, "breached": 0, "escalated": 0}
    db.session.commit()
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == rows
    assert db.session.scalar(select(func.count(SlaEvent.id))) == 6
