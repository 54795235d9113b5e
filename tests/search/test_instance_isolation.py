"""Tests never write into the repository's instance directory (where a portal running from this checkout keeps its
search indexes and emails): the test app, and worker processes started by tests, use the session's own."""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as q

import portal
from portal.extensions import db
from portal.models import Role, User
from portal.search.analysis import text_analyzer
from portal.search.schema import TICKET_INDEX
from portal.search.store import close_searchers, index_path, index_root
from portal.search.tickets import search_tickets
from tests.conftest import TEST_INSTANCE_DIR
from tests.ops.conftest import worker_env
from workers.senders import send_email

ROOT = Path(portal.__file__).resolve().parent.parent
REAL_INSTANCE = ROOT / "instance"
MARKER = "Quokkabrine"  # a word no real ticket or email contains


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def _real_index_has_marker() -> bool:
    folder = REAL_INSTANCE / "index" / TICKET_INDEX
    if not whoosh_index.exists_in(str(folder)):
        return False
    (term,) = [t.text for t in text_analyzer()(MARKER)]
    with whoosh_index.open_dir(str(folder)).searcher() as s:  # read only
        names = ("staff_text", "customer_text", "subject")  # the ticket text fields of this and earlier releases
        return any(len(s.search(q.Term(name, term), limit=1)) for name in names if name in s.schema)


def _real_mail_has_marker() -> bool:
    return any(MARKER in p.read_text(errors="replace") for p in (REAL_INSTANCE / "mail").glob("*.eml"))


def test_every_path_a_test_app_writes_to_is_in_the_session_directory(app):
    assert _inside(app.instance_path, TEST_INSTANCE_DIR) and not _inside(app.instance_path, REAL_INSTANCE)
    assert not _inside(app.config["INDEX_DIR"], REAL_INSTANCE) and not _inside(index_root(), REAL_INSTANCE)
    env = worker_env({"REDIS_URL": "", "MAIL_SERVER": "", "MAIL_PORT": 25, "MAIL_FROM": "x", "SLACK_WEBHOOK_URL": ""})
    assert env["INDEX_DIR"] == app.config["INDEX_DIR"]


def test_indexing_rebuilds_mail_and_worker_processes_leave_the_real_instance_untouched(
    app, make_org, make_user, make_ticket, run_index_jobs, runner
):
    real_tickets = REAL_INSTANCE / "index" / TICKET_INDEX
    existed = real_tickets.exists()
    assert not _real_index_has_marker() and not _real_mail_has_marker()
    customer = make_user(Role.customer, organization=make_org())
    agent_id = make_user(Role.agent).id
    ticket_id = make_ticket(customer, subject=f"{MARKER} meter offline", description="No readings.").id
    run_index_jobs()  # index jobs of this process
    assert runner.invoke(args=["search", "rebuild"]).exit_code == 0  # the CLI rebuild
    message = EmailMessage()
    message["Message-ID"] = "<isolation@test>"
    message["To"] = "customer@example.test"
    message.set_content(f"About {MARKER}")
    send_email(message)  # no MAIL_SERVER: written to the instance's mail folder
    assert any(MARKER in p.read_text() for p in (Path(app.instance_path) / "mail").glob("*.eml"))

    # a worker process, with the environment the jobs tests give their workers, rebuilds the ticket index
    close_searchers()
    env = worker_env({"REDIS_URL": "", "MAIL_SERVER": "", "MAIL_PORT": 25, "MAIL_FROM": "x", "SLACK_WEBHOOK_URL": ""})
    child = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "search", "rebuild", "--only", "tickets"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    assert str(index_root()) in child.stdout  # it wrote to this session's index ...
    agent = db.session.get(User, agent_id)
    assert [hit.ticket_id for hit in search_tickets(agent, MARKER).hits] == [ticket_id]
    assert not _inside(index_path(TICKET_INDEX), REAL_INSTANCE)

    # ... and nothing of this test reached the repository's instance directory
    assert not _real_index_has_marker() and not _real_mail_has_marker()
    assert real_tickets.exists() == existed
