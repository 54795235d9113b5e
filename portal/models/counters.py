"""Open-ticket counters, kept exact by database triggers on ``tickets`` (migration ``0022_queue_counters``).

A counter is a key and a number: ``open`` (all open tickets), ``unassigned``, ``tier:<tier>`` and
``assignee:<user id>`` (a person's open load, which routing ranks by). Every INSERT, DELETE and UPDATE of a ticket's
status, tier or assignee appends the differences it makes as rows of ``queue_counter_deltas`` — whatever writes it:
the services, a set-based UPDATE of the sweep, the importer, raw SQL. Appending never waits on another writer (there
is no hot row to lock). A counter's value is its base row plus its pending deltas, read in one statement, so it is
exact in every snapshot; ``portal.services.counters.compact`` folds the deltas into the base rows now and then.
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class QueueCounter(Base):
    __tablename__ = "queue_counters"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class QueueCounterDelta(Base):
    __tablename__ = "queue_counter_deltas"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (Index("ix_queue_counter_deltas_key", "key"),)
