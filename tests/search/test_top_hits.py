"""Top hits when the scores tie (a word once in every ticket that has it): ``TopHits`` sets the bar as soon as the
first hits are in, so a one-word search reads a few blocks instead of scoring every posting, and returns exactly
the hits (and order) of ranking every posting. AND and OR queries keep Whoosh's own bar."""

from __future__ import annotations

from whoosh import index as whoosh_index
from whoosh import query as q
from whoosh.fields import ID, TEXT, Schema
from whoosh.scoring import BM25F

from portal.search.query import LiveTerm, TopHits, top_hits

WEIGHTING = BM25F(text_B=0.0)


def _index(path, *, deletions: bool = False):
    ix = whoosh_index.create_in(str(path), Schema(id=ID(stored=True, unique=True), text=TEXT()))
    writer = ix.writer()
    for n in range(3000):  # "timeout" once in each (ties), twice in a few late ones; "retry" in every other one
        words = ["timeout"] * (2 if n in (2100, 2500, 2999) else 1) + (["retry"] if n % 2 else []) + [f"f{n % 40}"]
        writer.add_document(id=str(n), text=" ".join(words))
    writer.commit()
    if deletions:
        writer = ix.writer()
        for n in range(0, 3000, 7):
            writer.delete_by_term("id", str(n))
        writer.commit(merge=False)
    return ix


def _ranked_all(searcher, query, limit=20):
    """The true top hits: every match scored, best first, ties by document order (as Whoosh orders them)."""
    hits = [(round(h.score, 9), h.docnum, h["id"]) for h in searcher.search(query, limit=None)]
    return [(score, doc_id) for score, _docnum, doc_id in sorted(hits, key=lambda h: (-h[0], h[1]))[:limit]]


def _top(searcher, query, collector, limit=20):
    searcher.search_with_collector(query, collector)
    return [(round(h.score, 9), h["id"]) for h in collector.results()], collector.total  # documents scored


def test_a_one_word_search_with_tied_scores_reads_a_few_blocks_and_gives_the_true_top(tmp_path):
    ix = _index(tmp_path)
    with ix.searcher(weighting=WEIGHTING) as s:
        truth = _ranked_all(s, q.Term("text", "timeout"))
        ours, ours_scored = _top(s, q.Term("text", "timeout"), TopHits(20))
        whoosh, whoosh_scored = _top(s, q.Term("text", "timeout"), s.collector(limit=20))
    assert ours == truth == whoosh
    assert [doc_id for _score, doc_id in ours[:3]] == ["2100", "2500", "2999"]  # the better late ones are found
    assert whoosh_scored > 2100  # its bar rose only at the first better document: every posting before it scored
    assert ours_scored < 3000 / 4, ours_scored  # blocks of ties skipped once the first 20 were in


def test_with_deleted_documents_the_hits_are_the_true_top_and_none_deleted(tmp_path):
    ix = _index(tmp_path, deletions=True)
    with ix.searcher(weighting=WEIGHTING) as s:
        assert s.reader().has_deletions()
        truth = _ranked_all(s, q.Term("text", "timeout"))
        ours, ours_scored = _top(s, LiveTerm("text", "timeout"), TopHits(20))
    assert ours == truth
    assert all(int(doc_id) % 7 for _score, doc_id in ours)
    assert ours_scored < 3000 / 4, ours_scored


def test_and_or_queries_give_the_same_hits_as_whoosh(tmp_path):
    ix = _index(tmp_path)
    with ix.searcher(weighting=WEIGHTING) as s:
        for query in (
            q.And([q.Term("text", "timeout"), q.Term("text", "retry")]),
            q.Or([q.Term("text", "timeout"), q.Term("text", "retry")]),
        ):
            ours, _ = _top(s, query, TopHits(20))
            whoosh, _ = _top(s, query, s.collector(limit=20))
            assert ours == whoosh == _ranked_all(s, query), query


def test_top_hits_sorted_by_a_column_and_a_limit_past_the_index(tmp_path):
    ix = _index(tmp_path)
    with ix.searcher(weighting=WEIGHTING) as s:
        every = top_hits(s, q.Term("text", "retry"), 5000)  # more than the index holds: every match
        assert every.scored_length() == 1500
        first = top_hits(s, q.Term("text", "timeout"), 10)
        assert [h["id"] for h in first][:3] == ["2100", "2500", "2999"]
