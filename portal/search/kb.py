"""KB search and suggestions over articles and FAQs.

Visibility is part of the query: everyone gets ``status:published``; only staff get ``visibility:internal``
documents. "Did you mean" corrects words that do not occur in the KB from the unstemmed ``spell`` field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from whoosh import query as q

from portal.search import highlight
from portal.search.query import MAX_PAGE, Paged, QueryProblem, any_of, build, count_matches, keywords, parse
from portal.search.schema import KB_INDEX, KB_SNIPPET_FIELDS, KB_SUGGEST_FIELDS, KB_SUGGEST_SNIPPET_FIELDS, KB_TEXT
from portal.search.store import searcher

PER_PAGE = 10
SUGGEST_LIMIT = 5


@dataclass
class KbHit:
    doc_id: str  # "article:12" / "faq:3" (pages link to the article, or to the FAQ on its category's FAQ page)
    type: str  # article | faq
    object_id: int
    title: str
    slug: str
    category: str
    category_name: str
    snippet: Markup
    internal: bool


@dataclass
class KbResults(Paged):
    query: str
    hits: list[KbHit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    did_you_mean: str | None = None
    any_words: bool = False  # no document had every word: results match some of them
    problem: str | None = None
    capped: bool = False
    total_is_estimate: bool = False


def visibility_query(staff: bool) -> q.Query:
    published = q.Term("status", "published")
    return published if staff else q.And([published, q.Term("visibility", "public")])


def search_kb(
    text: str, *, staff: bool = False, category: str | None = None, page: int = 1, per_page: int = PER_PAGE
) -> KbResults:
    """A page of published articles and FAQs matching ``text`` (internal articles only for staff)."""
    page = max(1, min(page, MAX_PAGE))
    results = KbResults(query=(text or "").strip(), page=page, per_page=per_page)
    try:
        parsed = parse(text)
    except QueryProblem as problem:
        results.problem = problem.message
        return results
    results.capped = parsed.capped
    scope = [visibility_query(staff)] + ([q.Term("category", category)] if category else [])
    words = frozenset(parsed.terms)
    with searcher(KB_INDEX) as s:
        wanted = page * per_page
        found = s.search(q.And([build(parsed, KB_TEXT, match_all=True)] + scope), limit=wanted)
        if found.is_empty() and len(parsed.groups) + len(parsed.phrases) > 1:
            found = s.search(q.And([build(parsed, KB_TEXT, match_all=False)] + scope), limit=wanted)
            results.any_words = not found.is_empty()
        results.total, results.total_is_estimate = count_matches(found, wanted)
        results.hits = [_hit(hit, words, KB_SNIPPET_FIELDS) for hit in found[(page - 1) * per_page : page * per_page]]
        results.did_you_mean = _correction(s, parsed.text, parsed.words)
    return results


def suggest_kb(text: str, *, staff: bool = False, limit: int = SUGGEST_LIMIT) -> KbResults:
    """The best few published articles and FAQs for free text such as a ticket's subject and description. Any of
    its first distinctive words may match; documents matching more of them rank first."""
    results = KbResults(query=" ".join((text or "").split())[:500], per_page=limit)
    terms = keywords(text)
    if not terms:
        return results
    with searcher(KB_INDEX) as s:
        found = s.search(q.And([any_of(terms, KB_SUGGEST_FIELDS), visibility_query(staff)]), limit=limit)
        results.total = found.scored_length()  # what was shown; counting every match would run the query twice
        results.hits = [_hit(hit, frozenset(terms), KB_SUGGEST_SNIPPET_FIELDS) for hit in found]
    return results


def _hit(hit, words: frozenset[str], snippet_fields: tuple[str, ...]) -> KbHit:
    return KbHit(
        doc_id=hit["id"],
        type=hit["type"],
        object_id=int(hit["object_id"]),
        title=hit["title"],
        slug=hit.get("slug") or "",
        category=hit["category"],
        category_name=hit.get("category_name") or "",
        snippet=highlight.snippet(hit, snippet_fields, words, "lead"),
        internal=hit.get("visibility") == "internal",
    )


def _correction(s, text: str, words: list[str]) -> str | None:
    """``text`` with its unknown words replaced by the closest known ones, or None when nothing was corrected."""
    reader = s.reader()
    corrector = s.corrector("spell")
    replacements: dict[str, str] = {}
    for word in dict.fromkeys(words):
        if len(word) < 4 or reader.doc_frequency("spell", word) > 0:
            continue
        suggestions = corrector.suggest(word, limit=1, maxdist=2 if len(word) > 5 else 1)
        if suggestions and suggestions[0] != word:
            replacements[word] = suggestions[0]
    if not replacements:
        return None
    corrected = " ".join(replacements.get(token.lower(), token) for token in text.split())
    return corrected if corrected.lower() != text.lower() else None
