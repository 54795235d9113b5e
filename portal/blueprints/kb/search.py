"""KB search page (route ``kb.search`` at /kb/search). Owned by issue 4 part B (Whoosh search); placeholder until then."""
