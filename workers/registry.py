"""Job handlers by outbox kind. A handler takes the message payload and must be idempotent: it may run again for
the same outbox row (a retry, a worker killed mid-job). The runners (RQ worker or in-process) call ``dispatch``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], int], None]  # (payload, outbox message id)
HANDLERS: dict[str, Handler] = {}

# Modules that register handlers; each adds itself here with one line.
HANDLER_MODULES: list[str] = [
    "workers.notify",  # email and Slack notifications
    "workers.index_jobs",  # search index updates (queue "index")
    "workers.csat",  # satisfaction survey emails and low-rating alerts
    "workers.reports_jobs",  # daily, weekly and monthly report emails to the managers
    "workers.accounts",  # account emails: address confirmation, password reset, email change, organization joins
    "workers.mail",  # inbound mail: the mailbox poll, processing of stored messages
    "workers.mail_ack",  # the acknowledgement auto-reply to a ticket filed by email
    "workers.incidents",  # incident updates fanned out, reminders, resolution
    "workers.status",  # status page subscriptions and their emails
    "workers.health",  # health alerts to the admin and Slack
    "workers.chat",  # live chat: transcript emails
    "workers.paging",  # hotline pages to the on-call engineer: Slack, email, SMS
    "workers.webhooks",  # outgoing webhook deliveries (signed POSTs, retries, redeliveries)
]


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def load_handlers() -> dict[str, Handler]:
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return HANDLERS


def dispatch(kind: str, payload: dict[str, Any], message_id: int) -> None:
    load_handlers()
    try:
        fn = HANDLERS[kind]
    except KeyError:
        raise LookupError(f"no handler for outbox kind {kind!r}") from None
    fn(payload, message_id)
