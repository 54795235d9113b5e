"""Status page jobs: subscription confirmations and incident/maintenance notices to subscribers."""

from __future__ import annotations
