"""Top hits of a common word in a segment with deleted documents: Whoosh skips the blocks of postings that cannot
reach the top (``LiveTerm``), returns the same hits as ranking every posting, and never a deleted document."""

from __future__ import annotations

from whoosh import index as whoosh_index
from whoosh import query as q
from whoosh.fields import ID, TEXT, Schema
from whoosh.scoring import BM25F

from portal.search.query import LiveTerm

WEIGHTING = BM25F(text_B=0.0)


def _index(path):
    ix = whoosh_index.create_in(str(path), Schema(id=ID(stored=True, unique=True), text=TEXT()))
    writer = ix.writer()
    for n in range(3000):  # many blocks of postings; the first documents say "export" most often
        times = 6 + n % 25 if n < 200 else 1 + (n * 7919) % 5
        writer.add_document(id=str(n), text="export " * times + f"filler{n % 50}")
    writer.commit()
    writer = ix.writer()
    for n in range(0, 3000, 3):  # deleted documents stay in the segment until it is merged
        writer.delete_by_term("id", str(n))
    writer.commit(merge=False)
    return ix


def _top(searcher, query, limit=20):
    collector = searcher.collector(limit=limit)
    searcher.search_with_collector(query, collector)
    results = collector.results()
    return [(round(hit.score, 9), hit["id"]) for hit in results], collector.total  # documents scored


def test_live_term_skips_blocks_and_returns_the_true_top_hits(tmp_path):
    ix = _index(tmp_path)
    with ix.searcher(weighting=WEIGHTING) as s:
        assert s.reader().has_deletions()
        full = sorted(
            ((round(h.score, 9), h["id"]) for h in s.search(q.Term("text", "export"), limit=None)),
            key=lambda item: -item[0],
        )
        live, live_scored = _top(s, LiveTerm("text", "export"))
        plain, plain_scored = _top(s, q.Term("text", "export"))
    assert [score for score, _ in live] == [score for score, _ in full[:20]]
    assert all(int(doc_id) % 3 for _, doc_id in live)  # no deleted document
    assert live_scored < plain_scored / 2, (live_scored, plain_scored)  # Whoosh's filter soon stops skipping
