"""Outgoing webhooks: subscriptions (``subscriptions``), the events the services announce (``events``), the
signature (``signing``) and the URL guard with the pinned POST (``urls``). Delivery runs in ``workers.webhooks``."""
