"""Knowledge base services, one module per concern.

- ``permissions``: who may read internal content, write drafts, curate, and see an article's drafts and history.
- ``listing``: what the public help-centre pages list (published, internal-only for staff) and view counts.
- ``video``: the allow-listed video providers (YouTube, Vimeo) and their privacy-friendly embed addresses.
- ``articles``: the article workflow — drafts, edits with optimistic versions, publishing, archiving, restoring.
- ``revisions``: an article's saved versions and the diff between two of them.
- ``curation``: the curators' lists — articles by status, the needs-update queue and its negative feedback.
- ``feedback``: "was this helpful?" votes and the needs-update flag they raise.
- ``faqs``: FAQs and their order within a category.
- ``drafts``: a new article pre-filled from a solved ticket.
- ``search``: KB search and suggestions for a reader (through ``portal.search``), logged for the reports.
- ``analytics``: the search log, result clicks, deflections and suggestions shown with a ticket.
- ``reports``: the admin KB reports (top searches, gaps, suggestion look-ups, deflections, helpfulness).
- ``categories``: the seed KB categories.
- ``seed``: the demo help-centre content.

Every change flushes (never commits) and emits ``index.article`` / ``index.faq`` so the index writer picks it up.
"""
