"""Analyzers for English support text.

Words are lower-cased, stop words dropped and stemmed (``importing`` finds ``import``). Identifiers such as
``SSO_SAML``, ``ImportError``, ``GRI305`` or ``file.csv`` are indexed whole *and* as their parts, so ``saml`` finds
``SSO_SAML``; in a query an identifier becomes its parts (all of which must match), so ``sso_saml`` also finds
"SSO SAML" written as two words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from whoosh.analysis import Filter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.analysis.filters import STOP_WORDS

# A word, optionally joined to more words by dots or hyphens ("4.12", "file.csv", "follow-the-sun").
TOKEN_PATTERN = r"\w+(?:[.\-]\w+)*"
# Between the parts of a combined field (a ticket's subject, description, replies ...): the marker is dropped and
# the positions after it jump, so a phrase never matches across two parts.
PART_BREAK = "\u2029\u2029"
PART_GAP = 100
# The parts of an identifier: acronyms before a capitalised word, capitalised/lower words, acronyms, numbers.
PART_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+")

# Words that carry no meaning in a support question ("how do I ...") on top of Whoosh's list.
QUESTION_WORDS = frozenset(
    {
        "how",
        "do",
        "does",
        "did",
        "i",
        "my",
        "me",
        "our",
        "what",
        "why",
        "where",
        "which",
        "who",
        "there",
        "get",
        "got",
        "please",
        "hi",
        "hello",
        "thanks",
        "help",
        "need",
        "want",
        "cannot",
        "cant",
        "can't",
        "doesn",
        "isn",
        "was",
        "has",
        "had",
        "been",
        "am",
        "any",
        "some",
        "should",
        "would",
        "could",
        "its",
        "into",
        "about",
    }
)
STOP = frozenset(STOP_WORDS) | QUESTION_WORDS


class IdentifierSplitFilter(Filter):
    """Emit an identifier whole and then its parts (index mode), or only its parts (query mode).

    Positions are renumbered so the parts are consecutive (phrase queries over parts work) and later words keep
    their order; every part carries its own character range so highlighting marks exactly the matched part."""

    def __call__(self, tokens: Iterator) -> Iterator:
        shift = 0
        for t in tokens:
            text = t.text
            parts = PART_RE.findall(text) if _splittable(text) else []
            if len(parts) < 2:
                if t.positions:
                    t.pos += shift
                yield t
                continue
            query_mode = t.mode == "query"
            base_pos = t.pos + shift if t.positions else 0
            base_char = t.startchar if t.chars else 0
            if not query_mode:
                if t.positions:
                    t.pos = base_pos
                yield t
            offset = 0
            for i, part in enumerate(parts):
                start = text.index(part, offset)
                offset = start + len(part)
                t.text = part
                if t.positions:
                    t.pos = base_pos + i
                if t.chars:
                    t.startchar, t.endchar = base_char + start, base_char + offset
                yield t
            shift += len(parts) - 1


def _splittable(text: str) -> bool:
    if text.isalpha() and (len(text) < 2 or text[1:].islower()):  # a plain word (most tokens): nothing to split
        return False
    if "_" in text or "." in text or "-" in text:
        return True
    has_upper_inside = any(c.isupper() for c in text[1:])
    has_digit = any(c.isdigit() for c in text)
    return (has_upper_inside and any(c.islower() for c in text)) or (has_digit and not text.isdigit())


class PartBreakFilter(Filter):
    """Drop ``PART_BREAK`` markers and move the positions of the tokens after each one ``PART_GAP`` further (after
    the stop filter, which renumbers positions)."""

    def __call__(self, tokens: Iterator) -> Iterator:
        shift = 0
        for t in tokens:
            if t.text == PART_BREAK:
                shift += PART_GAP
                continue
            if shift and t.positions:
                t.pos += shift
            yield t


def text_analyzer():
    """Index and query analyzer of every full-text field: tokens, identifier parts, lower case, stop words, stems
    (and the breaks between the parts of a combined field)."""
    return (
        RegexTokenizer(f"{TOKEN_PATTERN}|{PART_BREAK}")
        | IdentifierSplitFilter()
        | LowercaseFilter()
        | StopFilter(stoplist=STOP, minsize=2, maxsize=60)
        | PartBreakFilter()
        | StemFilter(cachesize=50_000)
    )


def spelling_analyzer():
    """Unstemmed words for the "did you mean" corrector (a stem such as ``configur`` is no suggestion)."""
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | IdentifierSplitFilter()
        | LowercaseFilter()
        | StopFilter(stoplist=STOP, minsize=3, maxsize=30)
    )
