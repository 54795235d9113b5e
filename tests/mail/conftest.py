"""Real parts for the mail tests: a private dovecot IMAP server (one per test session, so one per xdist worker, on
its own port), a fresh mailbox account per test with the app's IMAP settings pointing at it, and the aiosmtpd SMTP
server of the jobs tests for the outgoing side."""

from __future__ import annotations

import itertools

import pytest

from tests.mail.dovecot import INSTALL_HINT, DovecotMissing, MailboxUser, start_dovecot
from tests.ops.conftest import smtp_server  # noqa: F401  (a fixture used by the end-to-end test)

_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot_server():
    try:
        server = start_dovecot()
    except DovecotMissing as exc:
        pytest.fail(f"{exc}. The mail tests need a real IMAP server; install it with: {INSTALL_HINT}")
    yield server
    server.stop()


@pytest.fixture
def mailbox(app, monkeypatch, dovecot_server) -> MailboxUser:
    """An empty INBOX of a new account; the app polls it (plain IMAP on 127.0.0.1)."""
    user = MailboxUser(dovecot_server, dovecot_server.add_user(f"support{next(_users)}"))
    for key, value in user.config().items():
        monkeypatch.setitem(app.config, key, value)
    return user
