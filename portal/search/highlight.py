"""Snippets with the matched words in ``<mark>``; every piece of document text is HTML-escaped."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape
from whoosh import highlight

SNIPPET_CHARS = 160


class MarkFormatter(highlight.Formatter):
    between = " … "

    def _text(self, text: str) -> str:
        return str(escape(text))

    def format_token(self, text, token, replace=False):
        return "<mark>" + str(escape(highlight.get_text(text, token, replace))) + "</mark>"


def configure(results) -> None:
    results.fragmenter = highlight.ContextFragmenter(maxchars=SNIPPET_CHARS * 2, surround=60)
    results.formatter = MarkFormatter()


def snippet(hit, fields: Iterable[str], fallback_field: str | None = None) -> Markup:
    """The best highlighted fragment among ``fields`` (in order of preference), else the start of the fallback."""
    for name in fields:
        if not hit.get(name):
            continue
        text = hit.highlights(name, top=2)
        if text:
            return Markup(text)
    plain = hit.get(fallback_field or "", "") or ""
    return Markup(escape(_shorten(plain)))


def _shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"
