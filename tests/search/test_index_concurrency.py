"""Two processes writing the same index at once: Whoosh allows one writer per index, ours wait for the lock instead
of failing, so no update is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from portal.extensions import db
from portal.models import Role
from portal.search.indexing import check_tickets
from portal.search.tickets import search_tickets

ROOT = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    from portal import create_app
    from portal.search import indexing
    url, index_dir, ids = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split(",")]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INDEX_DIR": index_dir, "SECRET_KEY": "child",
                      "TESTING": True, "JOBS_RELAY_ON_COMMIT": False, "JOBS_EMBEDDED_SCHEDULER": False,
                      "INDEX_WRITE_TIMEOUT": 60})
    with app.app_context():
        for ticket_id in ids:
            assert indexing.index_ticket(ticket_id) == "updated"
            from portal.extensions import db
            db.session.rollback()
        db.engine.dispose()
""")


def test_two_processes_writing_at_once_lose_no_update(app, make_org, make_user, make_ticket):
    customer = make_user(Role.customer, organization=make_org())
    agent = make_user(Role.agent)
    ids = [
        make_ticket(customer, subject=f"Concurrent write {n}", description="Penguin sensor drift.").id
        for n in range(40)
    ]
    db.session.commit()
    url = db.engine.url.render_as_string(hide_password=False)
    index_dir = app.config["INDEX_DIR"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, index_dir, ",".join(map(str, ids[k::2]))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (0, 1)
    ]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
    report = check_tickets()
    assert report.ok and report.documents == 40, report
    assert search_tickets(agent, "penguin", per_page=50).total == 40


def test_a_generation_replaced_while_it_is_opened_is_opened_again(
    app, monkeypatch, make_org, make_user, make_ticket, run_index_jobs
):
    """The index writer (another process) commits a new generation and deletes the old one's files between our
    reading the list of generations and opening one: the search opens the new generation instead of failing."""
    from portal.search import store

    customer = make_user(Role.customer, organization=make_org())
    ticket = make_ticket(customer, subject="Albatross meter drift", description="Readings jump at midnight.")
    run_index_jobs()
    store.close_searchers()
    real_open, vanished = store.open_index, []

    def open_while_the_writer_commits(name):
        if not vanished:
            vanished.append(name)
            raise FileNotFoundError(2, "No such file or directory", f"{name}/_MAIN_78.toc")
        return real_open(name)

    monkeypatch.setattr(store, "open_index", open_while_the_writer_commits)
    agent = make_user(Role.agent)
    hits = search_tickets(agent, "albatross")
    assert vanished and [h.ticket_id for h in hits.hits] == [ticket.id]
