"""KB curation under /admin/kb. Admins and managers curate (publish, archive, restore, FAQs, needs-update queue);
every staff member contributes drafts: they may create articles, draft one from a solved ticket, edit their own
drafts, and list the articles they wrote (with each one's history)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.admin.kb_forms import ArticleForm, FaqForm, VersionForm
from portal.blueprints.common import admin_required, make_page, page_number, staff_required
from portal.markdown import render_markdown
from portal.models import Status
from portal.models.kb import ArticleStatus
from portal.params import choice_param, str_param
from portal.services.access import get_ticket_for
from portal.services.errors import ValidationFailed
from portal.services.kb import articles, curation, drafts, faqs, listing, permissions, revisions
from portal.services.kb.video import parse_video_url

LIST_SIZE = 50


# --------------------------------------------------------------------------- articles


@staff_required
def kb_articles():
    """Curators: every article. Other staff: the articles they wrote (their drafts land here)."""
    number = page_number()
    status = choice_param("status", [s.value for s in ArticleStatus], "")
    category = str_param("category", max_length=50)
    needs_update = request.args.get("needs_update") == "1"
    rows = curation.list_articles(
        current_user, status=status, category=category, needs_update=needs_update, page=number, size=LIST_SIZE
    )
    return render_template(
        "admin/kb/articles.html",
        page=make_page(rows, number, LIST_SIZE),
        status=status,
        category=category,
        needs_update=needs_update,
        counts=curation.status_counts(current_user),
        categories=listing.list_categories(),
        statuses=list(ArticleStatus),
        curator=permissions.is_curator(current_user),
        can_edit=lambda article: permissions.can_edit(current_user, article),
    )


@admin_required
def kb_needs_update():
    flagged = curation.needs_update_queue()
    return render_template(
        "admin/kb/needs_update.html",
        articles=flagged,
        feedback={a.id: curation.negative_feedback(a, 5) for a in flagged},
    )


@staff_required
def kb_new():
    form = ArticleForm()
    if form.validate_on_submit():
        source = get_ticket_for(current_user, form.source_ticket.data) if form.source_ticket.data else None
        try:
            article = articles.create_article(
                current_user, form.to_input(), note=form.note.data or "Created", source_ticket=source
            )
        except ValidationFailed as exc:
            return _editor(form, None, exc)
        flash(f"Draft “{article.title}” saved.", "success")
        return redirect(url_for("admin.kb_edit", article_id=article.id), 303)
    return _editor(form, None)


@staff_required
def kb_from_ticket(reference: str):
    ticket = get_ticket_for(current_user, reference)
    if ticket.status not in (Status.solved, Status.closed):
        abort(409, "Draft articles from solved tickets only.")
    data = drafts.draft_from_ticket(current_user, ticket)
    form = ArticleForm(
        formdata=None, data=dict(vars(data), source_ticket=ticket.reference, note=f"Drafted from {ticket.reference}")
    )
    return _editor(form, None)


@staff_required
def kb_edit(article_id: int):
    article = _editable(article_id)
    form = ArticleForm(data=_article_data(article))
    if form.validate_on_submit():
        try:
            articles.update_article(
                current_user,
                article,
                form.to_input(),
                note=form.note.data or "",
                expected_version=form.version.data if form.version.data is not None else -1,
            )
        except ValidationFailed as exc:
            return _editor(form, article, exc)
        except articles.ArticleConflict as exc:
            return _editor(form, articles.get_article_by_id(article_id), conflict=exc)
        flash("Saved.", "success")
        return redirect(url_for("admin.kb_edit", article_id=article.id), 303)
    return _editor(form, article)


@staff_required
def kb_preview():
    return render_template(
        "admin/kb/partials/_preview.html",
        html=render_markdown(request.form.get("body_markdown", "")),
        video=parse_video_url(request.form.get("video_url", "")),
    )


STATUS_ACTIONS = {
    "publish": articles.publish_article,
    "archive": articles.archive_article,
    "draft": articles.unpublish_article,
}


@admin_required
def kb_set_status(article_id: int):
    article = articles.get_article_by_id(article_id)
    change = STATUS_ACTIONS.get(request.form.get("action", ""))
    if change is None:
        abort(400, "Choose publish, archive or draft.")
    change(current_user, article, expected_version=VersionForm().version.data)
    flash(f"“{article.title}” is now {article.status.label.lower()}.", "success")
    return redirect(url_for("admin.kb_edit", article_id=article.id), 303)


@admin_required
def kb_reviewed(article_id: int):
    articles.clear_needs_update(current_user, articles.get_article_by_id(article_id))
    flash("Removed from the needs-update queue.", "success")
    return redirect(url_for("admin.kb_needs_update"), 303)


@staff_required
def kb_history(article_id: int):
    article = articles.get_article_by_id(article_id)
    _require_staff_view(article)
    return render_template(
        "admin/kb/history.html",
        article=article,
        revisions=revisions.revisions(article),
        can_edit=permissions.can_edit(current_user, article),
    )


@staff_required
def kb_revision(article_id: int, revision_id: int):
    article = articles.get_article_by_id(article_id)
    _require_staff_view(article)
    revision = revisions.get_revision(article, revision_id)
    previous = revisions.previous_revision(revision)
    return render_template(
        "admin/kb/revision.html",
        article=article,
        revision=revision,
        previous=previous,
        diff=revisions.revision_diff(previous, revision),
        form=VersionForm(),
        can_edit=permissions.can_edit(current_user, article),
    )


@staff_required
def kb_restore(article_id: int, revision_id: int):
    article = articles.get_article_by_id(article_id)
    revision = revisions.get_revision(article, revision_id)
    articles.restore_revision(current_user, article, revision, expected_version=VersionForm().version.data)
    flash(f"Version {revision.version} restored as version {article.version}.", "success")
    return redirect(url_for("admin.kb_edit", article_id=article.id), 303)


def _editable(article_id: int):
    article = articles.get_article_by_id(article_id)
    if not permissions.can_edit(current_user, article):
        abort(403, "You can edit your own drafts only; ask an admin to change published articles.")
    return article


def _require_staff_view(article) -> None:
    if not permissions.can_view(current_user, article):
        abort(403)


def _article_data(article) -> dict:
    return dict(
        title=article.title,
        slug=article.slug,
        category=article.category.slug,
        summary=article.summary,
        tags=article.tags,
        video_url=article.video_url or "",
        internal_only=article.internal_only,
        body_markdown=article.body_markdown,
        version=article.version,
        note="",
    )


def _editor(form: ArticleForm, article, exc: ValidationFailed | None = None, conflict=None):
    for name, message in exc.fields.items() if exc else ():
        if name in form:
            form[name].errors = list(form[name].errors) + [message]
    status = 409 if conflict else (422 if exc or form.errors else 200)
    return render_template(
        "admin/kb/editor.html",
        form=form,
        article=article,
        conflict=conflict,
        preview=render_markdown(form.body_markdown.data or ""),
        status_form=VersionForm(formdata=None),
    ), status


# --------------------------------------------------------------------------- FAQs


@admin_required
def kb_faqs():
    return render_template("admin/kb/faqs.html", faqs=faqs.all_faqs(), form=VersionForm())


@admin_required
def kb_faq(faq_id: int | None):
    faq = faqs.get_faq(faq_id) if faq_id else None
    form = FaqForm(obj=faq, data={"category": faq.category.slug} if faq and request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            faqs.save_faq(
                current_user,
                faq,
                category=form.category.data,
                question=form.question.data,
                answer_markdown=form.answer_markdown.data,
                is_published=form.is_published.data,
            )
        except ValidationFailed as exc:
            for name, message in exc.fields.items():
                form[name].errors = list(form[name].errors) + [message]
            return render_template("admin/kb/faq.html", form=form, faq=faq), 422
        flash("FAQ saved.", "success")
        return redirect(url_for("admin.kb_faqs"), 303)
    return render_template("admin/kb/faq.html", form=form, faq=faq), 422 if form.errors else 200


@admin_required
def kb_faq_move(faq_id: int):
    faqs.move_faq(current_user, faqs.get_faq(faq_id), request.form.get("direction", ""))
    return redirect(url_for("admin.kb_faqs", _anchor=f"faq-{faq_id}"), 303)


@admin_required
def kb_faq_delete(faq_id: int):
    faqs.delete_faq(current_user, faqs.get_faq(faq_id))
    flash("FAQ deleted.", "success")
    return redirect(url_for("admin.kb_faqs"), 303)
