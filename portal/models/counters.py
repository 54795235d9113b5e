"""Ticket counters, kept exact by database triggers on ``tickets`` (migrations ``0022_queue_counters`` and
``0024_risk_and_customer_counters``).

A counter is a key and a number: ``open`` (all open tickets), ``solved``, ``unassigned``, ``tier:<tier>``,
``assignee:<user id>`` (a person's open load, which routing ranks by); for the customers' home page
``org_open:<organization id>`` / ``org_solved:…``, ``req_open:<requester id>`` / ``req_solved:…`` and
``req_org_open:<requester id>:<organization id>`` / ``req_org_solved:…`` (a requester's tickets filed under an
organization: what the union of "my organization's" and "my own" tickets counts twice); and ``at_risk``, the open
tickets at risk at the checkpoint instant ``QueueCounterCheckpoint.at`` (the at-risk count at any other instant is
that counter plus the few tickets whose risk instant lies between the two). Every INSERT, DELETE and UPDATE of a
column a counter depends on appends the differences it makes as rows of ``queue_counter_deltas`` — whatever writes
it: the services, a set-based UPDATE of the sweep, the importer, raw SQL. Appending never waits on another writer
(there is no hot row to lock). A counter's value is its base row plus its pending deltas, read in one statement, so
it is exact in every snapshot; ``portal.services.counters.compact`` folds the deltas into the base rows now and then.
"""

from __future__ import annotations

from datetime import datetime

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


class QueueCounterCheckpoint(Base):
    """The instant a clock-dependent counter counts at: one row, ``at_risk``. The ticket triggers read it (on
    PostgreSQL share-locked); ``portal.services.counters.advance_checkpoint`` moves it. No row: no instant yet (the
    counter counts nothing, every at-risk ticket is counted from the indexes until the next advance)."""

    __tablename__ = "queue_counter_checkpoints"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
