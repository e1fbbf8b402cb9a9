"""Vending: the vendor core and its limiter, the --reuse cache, tokens fetched from a vending
server (mint --from)."""
