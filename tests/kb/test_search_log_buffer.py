"""The search log buffer: KB searches, suggestion look-ups and followed results write nothing to the database while
the reader waits; the drain moves them in once (twice adds nothing, a crash half-way loses and duplicates nothing),
clicks noted before the drain reach their search, and the KB reports count a search made a moment ago."""

from __future__ import annotations

import html
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Role, utcnow
from portal.models.kb import SearchLog, SearchSource
from portal.services.kb import analytics, reports
from portal.services.kb import search_log_buffer as buffer
from tests.conftest import login

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def statements():
    """Every statement the engine runs while the ``with`` block of the returned recorder is open."""

    class Recorder:
        def __init__(self):
            self.seen: list[str] = []

        def _record(self, _conn, _cursor, statement, *_args):
            self.seen.append(statement)

        def __enter__(self):
            event.listen(db.engine, "before_cursor_execute", self._record)
            return self

        def __exit__(self, *exc):
            event.remove(db.engine, "before_cursor_execute", self._record)

        def writes(self) -> list[str]:
            return [s for s in self.seen if s.lstrip().upper().startswith(WRITES)]

    return Recorder()


def rows() -> list[SearchLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(SearchLog).order_by(SearchLog.id)))


def waiting_files() -> list[Path]:
    root = buffer.spool_root()
    return sorted(p for p in root.rglob("*.jsonl") if p.stat().st_size) if root.is_dir() else []


def click_links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="(/kb/search/go\?t=[^"]+)"', page)]


def suggestion_log(page: str) -> str:
    return html.unescape(re.search(r'hx-get="[^"]*/suggestions/[^"?]+\?log=([0-9a-f-]{36})"', page).group(1))


def test_searches_suggestions_and_clicks_write_nothing_to_the_database(
    client, make_article, make_org, make_user, run_index_jobs, statements
):
    article = make_article("Scope 3 supplier survey", "Send the supplier survey from Scope 3.")
    run_index_jobs()
    customer_client = client.application.test_client()
    assert login(customer_client, make_user(Role.customer, organization=make_org())).status_code == 302
    with statements:
        page = client.get("/kb/search?q=supplier survey")
        followed = client.get(click_links(page.text)[0])
        api = client.get("/api/v1/kb/suggest", query_string={"text": "supplier survey for scope 3"})
        suggestions = customer_client.get(
            "/portal/tickets/new/suggestions", query_string={"subject": "supplier survey"}
        )
        opened = customer_client.get(
            f"/portal/tickets/new/suggestions/article:{article.id}",
            query_string={"log": suggestion_log(suggestions.text)},
        )
    assert page.status_code == 200 and followed.status_code == 303 and api.status_code == 200
    assert suggestions.status_code == 200 and opened.status_code == 200
    assert statements.writes() == []
    assert rows() == [] and waiting_files()  # all of it waits in the spool

    stats = buffer.drain()
    assert (stats.searches, stats.clicks, stats.deferred) == (3, 2, 0)
    logged = rows()
    assert sorted(r.source.value for r in logged) == ["kb", "suggest", "suggest"]
    assert all(len(r.uuid) == 36 for r in logged)
    assert sum(r.clicked_article_id == article.id for r in logged) == 2


def test_a_drain_moves_each_entry_once(client, make_article, run_index_jobs):
    make_article("Carbon ledger export", "Export the carbon ledger as CSV.")
    run_index_jobs()
    for text in ("carbon ledger", "ledger export", "walrus"):
        assert client.get("/kb/search", query_string={"q": text}).status_code == 200
    first = buffer.drain()
    assert first.searches == 3 and waiting_files() == []
    assert [(r.query, r.result_count) for r in rows()] == [("carbon ledger", 1), ("ledger export", 1), ("walrus", 0)]
    second = buffer.drain()
    assert (second.searches, second.clicks) == (0, 0)
    assert len(rows()) == 3


def test_an_entry_id_is_unique_in_the_table():
    db.session.add(SearchLog(uuid="00000000-0000-4000-8000-000000000001", query="a"))
    db.session.commit()
    db.session.add(SearchLog(uuid="00000000-0000-4000-8000-000000000001", query="b"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_same_entries_drained_again_add_nothing(client, make_article, run_index_jobs):
    """A drain that committed but stopped before removing its source (or two drains reading one source) reads the
    same entries again: the uuid keeps them single."""
    make_article("Carbon ledger export", "Export the carbon ledger as CSV.")
    run_index_jobs()
    client.get("/kb/search?q=carbon ledger")
    client.get("/kb/search?q=ledger")
    copy = buffer.spool_root() / "copy.jsonl"
    shutil.copy(waiting_files()[0], copy)
    assert buffer.drain().searches == 2
    (buffer.spool_root() / "spool").mkdir(parents=True, exist_ok=True)
    copy.rename(buffer.spool_root() / "spool" / "leftover.jsonl")
    again = buffer.drain()
    assert again.searches == 0 and waiting_files() == []
    assert len(rows()) == 2


def test_clicks_noted_before_the_drain_reach_their_search(client, make_article, make_faq, run_index_jobs):
    article = make_article("Resetting the boiler meter", "Hold the reset button of the boiler meter.")
    faq = make_faq("How do I reset the boiler meter?", "Hold the reset button.")
    run_index_jobs()
    page = client.get("/kb/search?q=boiler meter reset")
    links = click_links(page.text)
    assert len(links) == 2
    for link in links + links:  # both results followed (twice): the first click counts
        assert client.get(link).status_code == 303
    buffer.drain()
    (log,) = rows()
    assert (log.clicked_article_id, log.clicked_faq_id) in ((article.id, None), (None, faq.id))


def test_a_click_that_arrives_before_its_search_waits_for_it(make_article, run_index_jobs):
    article = make_article("Exporting a GRI report", "Open Reports and export.")
    now = utcnow()
    search = buffer.search_entry(SearchSource.kb, "gri export", "gri export", 1, None, now)
    analytics.record_click(search["id"], article, now=now)  # its search still on its way (another process)
    first = buffer.drain(now=now)
    assert (first.searches, first.clicks, first.deferred) == (0, 0, 1) and rows() == []
    buffer.record(search)
    second = buffer.drain(now=now + timedelta(minutes=1))
    assert (second.searches, second.clicks, second.deferred) == (1, 1, 0)
    assert rows()[0].clicked_article_id == article.id and waiting_files() == []


def test_a_click_whose_search_never_comes_is_given_up_after_a_day(make_article):
    article = make_article("Exporting a GRI report", "Open Reports and export.")
    now = utcnow()
    analytics.record_click(buffer.new_id(), article, now=now)
    assert buffer.drain(now=now + timedelta(hours=23)).deferred == 1
    late = buffer.drain(now=now + timedelta(hours=25))
    assert (late.deferred, late.dropped) == (0, 1) and waiting_files() == []


def test_links_made_before_the_buffer_still_count_their_click(client, make_faq, run_index_jobs):
    faq = make_faq("How do I reset my password?", "Use Forgot password.")
    db.session.add(SearchLog(query="reset password", normalized_query="reset password", source=SearchSource.kb))
    db.session.commit()
    old = db.session.scalar(select(SearchLog))
    assert old.uuid is None
    assert client.get(f"/kb/search/go?t={analytics.click_token(old.id, f'faq:{faq.id}')}").status_code == 303
    assert buffer.drain().clicks == 1
    assert rows()[0].clicked_faq_id == faq.id


def test_the_kb_reports_right_after_searches_are_exact(app, client, make_article, make_user, run_index_jobs):
    make_article("Scope 3 supplier survey", "Send the supplier survey from Scope 3.")
    run_index_jobs()
    client.get("/kb/search?q=hydrogen electrolyser")
    client.get("/kb/search?q=hydrogen electrolysers")
    client.get("/api/v1/kb/suggest", query_string={"text": "walrus ledger"})
    assert rows() == []  # nothing drained yet
    assert {row.query: row.searches for row in reports.kb_gaps()} == {"hydrogen electrolyser": 2}
    summary = reports.lookup_summary()
    assert (summary.lookups, summary.with_results) == (1, 0)
    db.session.commit()
    assert waiting_files() == []  # the report's transaction committed: its sources are gone

    client.get("/kb/search?q=hydrogen electrolyser")  # one more, then the report page at once
    admin = app.test_client()
    assert login(admin, make_user(Role.admin)).status_code == 302
    page = admin.get("/admin/kb/reports")
    assert page.status_code == 200 and "hydrogen electrolyser" in page.text
    assert {row.query: row.searches for row in reports.top_searches()} == {"hydrogen electrolyser": 3}
    assert buffer.drain().searches == 0 and len(rows()) == 4  # the page's drain was committed with it, once


def test_a_report_whose_transaction_rolls_back_leaves_the_entries_for_the_next_drain(client, run_index_jobs):
    run_index_jobs()
    client.get("/kb/search?q=walrus")
    assert [row.query for row in reports.kb_gaps()] == ["walrus"]
    db.session.rollback()
    assert rows() == [] and waiting_files()
    assert buffer.drain().searches == 1 and len(rows()) == 1


@pytest.mark.parametrize("stage", ["_insert_searches", "_apply_clicks"])
def test_a_crash_half_way_through_a_drain_loses_and_duplicates_nothing(
    stage, client, make_article, run_index_jobs, monkeypatch
):
    article = make_article("Carbon ledger export", "Export the carbon ledger as CSV.")
    run_index_jobs()
    for n in range(5):
        page = client.get("/kb/search", query_string={"q": f"carbon ledger {n}"})
        if n % 2 == 0:
            client.get(click_links(page.text)[0])
    real, calls = getattr(buffer, stage), []

    def crash_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the worker died")
        return real(*args)

    monkeypatch.setattr(buffer, stage, crash_on_the_second_batch)
    with pytest.raises(RuntimeError):
        buffer.drain(batch_size=2)  # 8 entries: 4 batches a pass; the first batch was committed
    db.session.rollback()
    monkeypatch.setattr(buffer, stage, real)
    assert waiting_files()  # still claimed, not gone
    buffer.drain(batch_size=2)
    logged = rows()
    assert sorted(r.query for r in logged) == [f"carbon ledger {n}" for n in range(5)]
    assert len({r.uuid for r in logged}) == 5
    assert sorted(r.query for r in logged if r.clicked_article_id == article.id) == [
        "carbon ledger 0",
        "carbon ledger 2",
        "carbon ledger 4",
    ]
    assert waiting_files() == [] and buffer.drain().searches == 0


def test_an_entry_noted_while_a_drain_claims_goes_to_a_new_spool_file(app):
    now = utcnow()
    buffer.record(buffer.search_entry(SearchSource.kb, "one", "one", 0, None, now))
    buffer._claim_spool()  # the drain's cut: the file moves to claimed/
    buffer.record(buffer.search_entry(SearchSource.kb, "two", "two", 0, None, now))
    spool, claimed = buffer.spool_root() / "spool", buffer.spool_root() / "claimed"
    assert [p.read_text().count("\n") for p in spool.glob("*.jsonl")] == [1]
    assert [p.read_text().count("\n") for p in claimed.glob("*.jsonl")] == [1]
    assert buffer.drain().searches == 2


def test_a_half_written_line_is_skipped(app):
    spool = buffer.spool_root() / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    good = buffer.search_entry(SearchSource.kb, "kept", "kept", 0, None, utcnow())
    buffer.record(good)
    (spool / "killed-1.jsonl").write_text('{"t": "search", "id": "1234')
    stats = buffer.drain()
    assert (stats.searches, stats.unreadable) == (1, 1) and [r.query for r in rows()] == ["kept"]


def test_a_searcher_deleted_before_the_drain_is_logged_without_a_user(client, make_user, run_index_jobs):
    run_index_jobs()
    customer = make_user(Role.customer)
    buffer.record(buffer.search_entry(SearchSource.kb, "gone", "gone", 0, customer.id, utcnow()))
    db.session.delete(customer)
    db.session.commit()
    assert buffer.drain().searches == 1 and rows()[0].user_id is None


def test_the_database_mode_writes_at_once(app, client, make_article, run_index_jobs, monkeypatch):
    article = make_article("Carbon ledger export", "Export the carbon ledger as CSV.")
    run_index_jobs()
    monkeypatch.setitem(app.config, "SEARCH_LOG_BUFFER", "database")
    page = client.get("/kb/search?q=carbon ledger")
    client.get(click_links(page.text)[0])
    assert [(r.query, r.clicked_article_id) for r in rows()] == [("carbon ledger", article.id)]
    assert waiting_files() == []


def test_the_drain_is_scheduled_and_has_a_command(runner, client, run_index_jobs):
    from workers.periodic import SCHEDULE
    from workers.search_log import search_log_drain

    assert (search_log_drain, 60, "default") in SCHEDULE
    run_index_jobs()
    client.get("/kb/search?q=walrus")
    result = runner.invoke(args=["jobs", "drain-search-log"])
    assert result.exit_code == 0 and "Added 1 searches" in result.output, result.output
    assert [r.query for r in rows()] == ["walrus"]


# -- Redis ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("redis-server is not installed")
    from tests.ops.conftest import RedisServer, free_port

    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_buffer(app, monkeypatch, private_redis):
    from redis import Redis

    with Redis.from_url(private_redis.url) as connection:
        connection.flushall()
    monkeypatch.setitem(app.config, "REDIS_URL", private_redis.url)
    monkeypatch.setitem(app.config, "SEARCH_LOG_BUFFER", "auto")
    app.extensions.pop("search_log_redis", None)
    app.extensions.pop("search_log_redis_paused_until", None)
    yield Redis.from_url(private_redis.url)
    app.extensions.pop("search_log_redis", None)
    app.extensions.pop("search_log_redis_paused_until", None)


def test_with_redis_entries_wait_in_a_redis_list(client, make_article, run_index_jobs, redis_buffer, statements):
    article = make_article("Carbon ledger export", "Export the carbon ledger as CSV.")
    run_index_jobs()
    with statements:
        page = client.get("/kb/search?q=carbon ledger")
        client.get(click_links(page.text)[0])
    assert statements.writes() == [] and waiting_files() == []
    assert redis_buffer.llen(buffer.REDIS_PENDING) == 2
    assert [row.query for row in reports.top_searches()] == ["carbon ledger"]  # exact at once
    db.session.commit()
    assert redis_buffer.llen(buffer.REDIS_PENDING) == 0 and redis_buffer.scard(buffer.REDIS_CLAIMS) == 0
    assert [(r.query, r.clicked_article_id) for r in rows()] == [("carbon ledger", article.id)]
    assert buffer.drain().searches == 0


def test_a_claimed_redis_list_left_by_a_crash_is_drained_again(client, run_index_jobs, redis_buffer, monkeypatch):
    run_index_jobs()
    for text in ("walrus", "narwhal", "beluga"):
        client.get("/kb/search", query_string={"q": text})
    real = buffer._insert_searches
    monkeypatch.setattr(buffer, "_insert_searches", lambda *a: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        buffer.drain()
    db.session.rollback()
    monkeypatch.setattr(buffer, "_insert_searches", real)
    assert redis_buffer.llen(buffer.REDIS_PENDING) == 0 and redis_buffer.scard(buffer.REDIS_CLAIMS) == 1
    assert buffer.drain().searches == 3
    assert redis_buffer.scard(buffer.REDIS_CLAIMS) == 0 and len(rows()) == 3


def test_a_redis_that_does_not_answer_sends_entries_to_the_spool(
    app, client, run_index_jobs, redis_buffer, monkeypatch
):
    run_index_jobs()
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    app.extensions.pop("search_log_redis", None)
    assert client.get("/kb/search?q=walrus").status_code == 200
    assert waiting_files()
    assert [row.query for row in reports.kb_gaps()] == ["walrus"]
