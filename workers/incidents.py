"""Incident jobs: an update fanned out to linked tickets, contacts, the status page and Slack; reminders."""

from __future__ import annotations
