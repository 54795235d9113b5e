from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus
from portal.services import outbox


def test_emit_writes_a_pending_row_in_the_callers_transaction():
    message = outbox.emit("notify.ticket_reply", {"ticket_id": 1})
    db.session.flush()
    assert message.status is OutboxStatus.pending and message.queue == "notify"
    db.session.rollback()  # the change is abandoned: so is its notification
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_emit_with_dedupe_key_records_a_fact_once():
    first = outbox.emit("notify.sla_at_risk", {"ticket_id": 1}, dedupe_key="sla:1:resolution:at_risk")
    again = outbox.emit("notify.sla_at_risk", {"ticket_id": 1}, dedupe_key="sla:1:resolution:at_risk")
    db.session.commit()
    later = outbox.emit("notify.sla_at_risk", {"ticket_id": 1}, dedupe_key="sla:1:resolution:at_risk")
    db.session.commit()
    assert first is again and later.id == first.id
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1
    assert outbox.emit("index.ticket", {"ticket_id": 1}).queue == "index"
