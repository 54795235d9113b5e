"""Turning what a person typed into a bounded Whoosh query.

We do not expose Whoosh's query language: no ``field:value`` (a customer must not be able to name
``internal_text``), no wildcards, ranges or boosts. A query is words, ``"quoted phrases"`` and ``-excluded`` words.
Queries longer than ``MAX_QUERY_CHARS``, made only of wildcards/punctuation or only of stop words are refused with a
clear message; at most ``MAX_TERMS`` distinct terms are searched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from whoosh import query as q
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.collectors import TopCollector
from whoosh.matching import FilterMatcher, UnionMatcher, WrappingMatcher

from portal.search.analysis import text_analyzer

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
SUGGEST_TERMS = 10
SUGGEST_TEXT_CHARS = 2_000

_PIECE_RE = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')
_WORD_RE = re.compile(r"\w")
_analyzer = text_analyzer()


MAX_PAGE = 50  # deep pages of a relevance-ranked search are never useful; the bound keeps searches cheap
EXACT_COUNT_UP_TO = 250  # matches beyond the scored page are counted exactly up to this estimate, else estimated


class Paged:
    """Page arithmetic shared by the result classes (which hold ``total``, ``page`` and ``per_page``)."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, max(1, -(-self.total // self.per_page)))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def count_matches(found, wanted: int) -> tuple[int, bool]:
    """(number of matches, whether it is an estimate) of a search that scored at most ``wanted`` hits. Only the
    hits shown are scored: when the matches ended before ``wanted`` their number is known; a few more are counted
    (without scoring); beyond ``EXACT_COUNT_UP_TO`` Whoosh's estimate is used (counting every document that holds
    a common word would cost as much as scoring them)."""
    scored = found.scored_length()
    if scored < wanted:
        return scored, False
    estimate = max(found.estimated_length(), scored)
    if estimate <= EXACT_COUNT_UP_TO:
        return len(found), False
    return estimate, True


class TopHits(TopCollector):
    """Whoosh's top-N collector, with the bar set as soon as the first N hits are in when the query is one posting
    list (a single word, the most common search).

    A document enters the top N only with a score above the lowest one there (the bar), and the collector skips
    every block of postings whose best possible score is not above it. Whoosh raises the bar only when a better
    document replaces one, so while the hits tie (a word once in every ticket that has it, as in most short texts)
    it stays at zero and every match is scored: 150 ms for a common word at a million tickets. One list's blocks
    bound its documents exactly, so there the bar can be the N-th score from the start: the same hits in the same
    order (ties keep the earlier document, as in Whoosh), a few blocks read. For AND and OR queries Whoosh's
    block bounds look only at the other list's current block, so the bar stays as Whoosh sets it."""

    _one_list = False  # the current segment's matcher reads one posting list (set per segment by ``matches``)

    def matches(self):
        self._one_list = _one_list(self.matcher)
        return super().matches()

    def _collect(self, global_docnum, score):
        result = super()._collect(global_docnum, score)
        if self._one_list and len(self.items) >= self.limit and self.minscore < self.items[0][0]:
            self.minscore = self.items[0][0]
        return result


def _one_list(matcher) -> bool:
    """Whether ``matcher`` reads one term's postings (with a boost or the deleted documents left out)."""
    while type(matcher) in (WrappingMatcher, FilterMatcher, LiveFilterMatcher):
        matcher = matcher.child
    if type(matcher) is UnionMatcher:  # a word in two fields of which only one has it in this segment
        active = [m for m in (matcher.a, matcher.b) if m.is_active()]
        return len(active) == 1 and _one_list(active[0])
    return type(matcher) is W3LeafMatcher


def top_hits(searcher, query: q.Query, limit: int, **sort):
    """The best ``limit`` hits of ``query`` (``TopHits``), or with ``sortedby`` (and ``reverse``) the first
    ``limit`` in that order (Whoosh's sorting collector)."""
    if sort.get("sortedby") or limit >= searcher.doc_count():
        return searcher.search(query, limit=limit, **sort)
    collector = TopHits(limit)
    searcher.search_with_collector(query, collector)
    return collector.results()


def count_up_to(searcher, query: q.Query, limit: int) -> int:
    """How many live documents match ``query``, counting (unscored, segment by segment) only up to ``limit``: the
    cost is bounded by ``limit`` matches, not by how common a word is."""
    counted = 0
    context = searcher.boolean_context()
    for subsearcher, _offset in searcher.leaf_searchers():
        matcher = query.matcher(subsearcher, context)
        while matcher.is_active():
            counted += 1
            if counted >= limit:
                return counted
            matcher.next()
    return counted


class QueryProblem(ValueError):
    """The query cannot be searched as typed; ``message`` tells the person what to change."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class ParsedQuery:
    text: str
    groups: list[list[str]] = field(default_factory=list)  # analyzed terms of each word (all must match)
    phrases: list[list[str]] = field(default_factory=list)  # quoted phrases
    excluded: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # the unanalyzed words (spelling correction)
    capped: bool = False

    @property
    def terms(self) -> list[str]:
        return [t for g in self.groups for t in g] + [t for p in self.phrases for t in p]


def analyze(text: str) -> list[str]:
    return [t.text for t in _analyzer(text, mode="query")]


def parse(text: str | None, *, max_terms: int = MAX_TERMS) -> ParsedQuery:
    """Parse a search box's text or raise ``QueryProblem``."""
    text = (text or "").strip()
    if not text:
        raise QueryProblem("Type a word or two to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryProblem(
            f"That search is {len(text)} characters long; use at most {MAX_QUERY_CHARS} "
            "(a few distinctive words work best)."
        )
    if not _WORD_RE.search(text):
        raise QueryProblem("Wildcards and punctuation on their own match everything; type at least one word.")
    parsed = ParsedQuery(text=text)
    seen: set[str] = set()
    budget = max_terms
    for match in _PIECE_RE.finditer(text):
        if match.group(2) is not None:
            negative, piece, is_phrase = match.group(1), match.group(2), True
        else:
            negative, piece, is_phrase = match.group(3), match.group(4), False
        terms = [t for t in analyze(piece) if t not in seen]
        if not terms:
            continue
        if negative:
            parsed.excluded.extend(terms[:budget])
            budget -= min(len(terms), budget)
        elif is_phrase and len(terms) > 1:
            parsed.phrases.append(terms[:budget])
            budget -= min(len(terms), budget)
        else:
            parsed.groups.append(terms[:budget])
            budget -= min(len(terms), budget)
            parsed.words.extend(w.lower() for w in re.findall(r"[^\W\d_]{3,}", piece))
        seen.update(terms)
        if budget <= 0:
            parsed.capped = match.end() < len(text.rstrip())
            break
    if not parsed.groups and not parsed.phrases:
        raise QueryProblem("Those words are too common to search for; add a more specific word.")
    return parsed


def keywords(text: str, limit: int = SUGGEST_TERMS) -> list[str]:
    """The first ``limit`` distinct meaningful terms of free text (a ticket's subject and description)."""
    found: list[str] = []
    for term in analyze((text or "")[:SUGGEST_TEXT_CHARS]):
        if term not in found and not term.isdigit():
            found.append(term)
            if len(found) >= limit:
                break
    return found


class LiveFilterMatcher(FilterMatcher):
    """Whoosh's filter of a segment's deleted documents, fixed for top-N collection: ``next`` reports entering a
    new block of postings (Whoosh's returns nothing, so the collector stops skipping blocks whose best score cannot
    reach the top hits and scores nearly every posting), and ``skip_to_quality`` never stops on a deleted
    document."""

    def next(self):
        entered_block = self.child.next()
        return self._find_next() or entered_block

    def skip_to_quality(self, minquality):
        skipped = self.child.skip_to_quality(minquality / self.boost)
        self._find_next()
        return skipped


class LiveTerm(q.Term):
    """A term whose postings keep skipping blocks in segments with deleted documents (see ``LiveFilterMatcher``);
    in an index updated one document at a time most segments have some."""

    def matcher(self, searcher, context=None):
        return _live(super().matcher(searcher, context))


def _live(matcher):
    if type(matcher) is FilterMatcher:
        return LiveFilterMatcher(matcher.child, matcher._ids, exclude=matcher._exclude, boost=matcher.boost)
    if type(matcher) is WrappingMatcher and type(matcher.child) is FilterMatcher:
        return WrappingMatcher(_live(matcher.child), boost=matcher.boost)
    return matcher


def build(parsed: ParsedQuery, field: str | tuple[str, ...], *, match_all: bool = True) -> q.Query:
    """Each word must match in the combined text ``field`` (or any word, with ``match_all=False``); excluded words
    must not. With several fields (a staff ticket search: public text and internal notes) a word or a phrase
    matches in any of them; a phrase never spans two fields."""
    fields = (field,) if isinstance(field, str) else field

    def either(make) -> q.Query:
        queries = [make(name) for name in fields]
        return q.Or(queries) if len(queries) > 1 else queries[0]

    parts: list[q.Query] = []
    for terms in parsed.groups:
        words = [either(lambda name, term=term: LiveTerm(name, term)) for term in terms]
        parts.append(q.And(words) if len(words) > 1 else words[0])
    for terms in parsed.phrases:
        parts.append(either(lambda name, terms=terms: q.Phrase(name, terms)))
    combined: q.Query = (q.And(parts) if match_all else q.Or(parts)) if len(parts) > 1 else parts[0]
    if parsed.excluded:
        excluded = [q.Term(name, term) for term in parsed.excluded for name in fields]
        combined = q.AndNot(combined, q.Or(excluded) if len(excluded) > 1 else excluded[0])
    return combined


def any_of(terms: list[str], fields: Mapping[str, float]) -> q.Query:
    """Any term in any field, as one flat OR (nested ORs build a matcher tree twice as slow in Whoosh)."""
    return q.Or([q.Term(name, term, boost=boost) for term in terms for name, boost in fields.items()])
