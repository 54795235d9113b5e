"""Inbound mail jobs: the mailbox poll and processing of stored messages."""

from __future__ import annotations
