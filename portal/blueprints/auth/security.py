"""Two-factor authentication (enrolment, second step at sign-in, recovery codes) and active sessions."""

from __future__ import annotations
