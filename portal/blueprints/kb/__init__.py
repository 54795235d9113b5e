"""Public knowledge base under /kb: home, categories, articles, FAQs, videos (routes.py) and search (search.py)."""
