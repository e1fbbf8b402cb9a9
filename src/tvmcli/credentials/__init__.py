"""Credentials: where keys come from, recognising and decoding any key or token, JWT."""
