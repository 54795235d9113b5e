"""The domain: plain functions that change state and write their audit rows. They flush, never commit."""
