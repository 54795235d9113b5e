"""Snippets with the matched words in ``<mark>``; every piece of document text is HTML-escaped.

Searches match combined fields, so the words to mark are the query's analyzed terms (not Whoosh's matched terms
of the field shown): a snippet is cut from a stored part (subject, description, body ...) that contains them.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape
from whoosh import highlight

from portal.search.analysis import text_analyzer

SNIPPET_CHARS = 160
SCAN_CHARS = 20_000  # a long text is scanned for matches this far (a pasted log need not be tokenized whole)
WINDOW_CHARS = 800  # ... and only this much of it around the first place a searched word seems to occur

_analyzer = text_analyzer()


class MarkFormatter(highlight.Formatter):
    between = " … "

    def _text(self, text: str) -> str:
        return str(escape(text))

    def format_token(self, text, token, replace=False):
        return "<mark>" + str(escape(highlight.get_text(text, token, replace))) + "</mark>"


_fragmenter = highlight.ContextFragmenter(maxchars=SNIPPET_CHARS * 2, surround=60, charlimit=SCAN_CHARS)
_formatter = MarkFormatter()
_scorer = highlight.BasicFragmentScorer()


def marked(text: str, words: frozenset[str], top: int = 2) -> str:
    """The best ``top`` fragments of ``text`` around the analyzed ``words``, marked; "" when none occurs."""
    if not text or not words:
        return ""
    text = _window(text, words)
    tokens = _analyzer(text, positions=True, chars=True, mode="index", removestops=False)
    tokens = highlight.Highlighter._merge_matched_tokens(highlight.set_matched_filter(tokens, words))
    fragments = highlight.top_fragments(_fragmenter.fragment_tokens(text, tokens), top, _scorer, highlight.FIRST)
    return _formatter.format(fragments) if fragments else ""


def _window(text: str, words: frozenset[str]) -> str:
    """The part of a long text worth tokenizing: from a little before the first place where the start of a
    searched word (a stem minus its last letter: "happi" finds "happy") occurs. Analyzing the whole text of every
    hit would cost more than the search. Without such a place, the first ``SCAN_CHARS``."""
    if len(text) <= WINDOW_CHARS:
        return text
    lower = text[:SCAN_CHARS].lower()
    starts = [lower.find(word[: max(3, len(word) - 1)]) for word in words]
    found = [i for i in starts if i >= 0]
    if not found:
        return text[:SCAN_CHARS]
    start = max(0, min(found) - 200)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 50 else start
    return text[start : start + WINDOW_CHARS]


def first_marked(hit, fields: Iterable[str], words: frozenset[str]) -> tuple[str, Markup] | None:
    """(field, snippet) of the first of ``fields`` (in order of preference) whose stored text holds a word."""
    for name in fields:
        text = marked(hit.get(name) or "", words)
        if text:
            return name, Markup(text)
    return None


def snippet(hit, fields: Iterable[str], words: frozenset[str], fallback_field: str | None = None) -> Markup:
    """The best marked fragment among ``fields``, else the start of the fallback field."""
    found = first_marked(hit, fields, words)
    if found is not None:
        return found[1]
    plain = hit.get(fallback_field or "", "") or ""
    return Markup(escape(_shorten(plain)))


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"
