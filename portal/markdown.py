"""Markdown → safe HTML for user-written content (KB articles, FAQ answers).

Two layers: markdown-it renders CommonMark with raw HTML switched off (any ``<tag>`` in the source is shown as text),
then nh3 (ammonia) keeps only an allow-list of tags and attributes and only http(s)/mailto (and relative) links.
Scripts, styles, iframes, event handlers and ``javascript:``/``data:`` URLs never survive. Video embeds are not
Markdown: templates build them from an article's validated ``video_url``.
"""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "dd",
        "del",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "abbr": {"title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Removed together with their content, not just unwrapped.
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math"})

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def sanitize_html(html: str) -> str:
    """Reduce an HTML fragment to the allow-list (the second layer; also usable on its own)."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(source: str) -> Markup:
    """Markdown → sanitized HTML, safe to put in a template as is."""
    return Markup(sanitize_html(_md.render(source or "")))


_SPACE_RE = re.compile(r"\s+")


_BLOCK_TAG_RE = re.compile(r"<(/?(?:p|li|ul|ol|h[1-6]|td|th|tr|table|br|div|pre|blockquote|hr)\b)", re.IGNORECASE)


def markdown_to_text(source: str) -> str:
    """Plain text of a Markdown document (for summaries, snippets and search indexing)."""
    rendered = _BLOCK_TAG_RE.sub(r" <\1", _md.render(source or ""))  # words of adjacent blocks stay apart
    stripped = nh3.clean(rendered, tags=set(), clean_content_tags=set(DROP_WITH_CONTENT))
    return _SPACE_RE.sub(" ", html.unescape(stripped)).strip()
