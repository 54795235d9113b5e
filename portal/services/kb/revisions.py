"""An article's saved versions (newest first) and the line diff between two of them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import select

from portal.extensions import db
from portal.models.kb import Article, ArticleRevision
from portal.services.errors import NotFound


def get_revision(article: Article, revision_id: int) -> ArticleRevision:
    revision = db.session.get(ArticleRevision, revision_id)
    if revision is None or revision.article_id != article.id:
        raise NotFound("There is no such revision of this article.")
    return revision


def revisions(article: Article) -> list[ArticleRevision]:
    query = select(ArticleRevision).where(ArticleRevision.article_id == article.id).order_by(ArticleRevision.id.desc())
    return list(db.session.scalars(query))


def previous_revision(revision: ArticleRevision) -> ArticleRevision | None:
    query = (
        select(ArticleRevision)
        .where(ArticleRevision.article_id == revision.article_id, ArticleRevision.id < revision.id)
        .order_by(ArticleRevision.id.desc())
        .limit(1)
    )
    return db.session.scalar(query)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "same", "hunk"
    text: str


def revision_diff(old: ArticleRevision | None, new: ArticleRevision) -> list[DiffLine]:
    """Line diff (unified, 3 lines of context) of title, summary and body between two revisions."""

    def lines(rev: ArticleRevision | None) -> list[str]:
        if rev is None:
            return []
        return [f"# {rev.title}", f"Summary: {rev.summary}", ""] + rev.body_markdown.split("\n")

    out: list[DiffLine] = []
    for line in list(difflib.unified_diff(lines(old), lines(new), lineterm="", n=3))[2:]:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(DiffLine(kind, line[1:] if kind != "hunk" else line))
    return out
