"""The emergency hotline and on-call paging: ``hotline`` (the signed webhook and the agent's form → a critical
ticket), ``pages`` (paging, escalation, acknowledgement) and ``schedule`` (the effective on-call, overrides)."""
