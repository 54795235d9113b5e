"""Run one mailbox poll in a child process, killed by SIGKILL at a chosen point (the crash tests).

Environment: ``POLL_CHILD_CONFIG`` (JSON: the test app's settings), ``POLL_CHILD_INSTANCE`` (its instance
directory), ``POLL_CHILD_KILL_AT`` (a point of ``portal.services.mail.imap.test_hook``: fetched, received,
processed; empty: never). The first time the poll reaches that point the process kills itself — no cleanup, no
rollback, no logout, as when the machine loses power.
"""

from __future__ import annotations

import json
import os
import signal

from portal import create_app
from portal.services.mail import imap


def main() -> None:
    app = create_app(json.loads(os.environ["POLL_CHILD_CONFIG"]))
    app.instance_path = os.environ["POLL_CHILD_INSTANCE"]
    kill_at = os.environ.get("POLL_CHILD_KILL_AT", "")

    def hook(point: str) -> None:
        if point == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    imap.test_hook = hook
    with app.app_context():
        result = imap.poll_once()
    print(json.dumps(result.counts()))


if __name__ == "__main__":
    main()
