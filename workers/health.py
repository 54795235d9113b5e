"""Health jobs: heartbeats, checks, and an alert once when something stops and once when it recovers."""

from __future__ import annotations
