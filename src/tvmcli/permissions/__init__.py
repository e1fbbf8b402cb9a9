"""Permissions: what a token may do. Statements and Momento's limits, the role table, and the
exact wire Permissions message (all pure, no I/O)."""
