"""The public status page's rules: components and their derived state (``components``), scheduled maintenance
(``maintenance``), the page's data and its in-process cache (``page``), email subscriptions with double opt-in and
one-click unsubscribe (``subscriptions``) and the Atom / RSS feeds (``feed``)."""
