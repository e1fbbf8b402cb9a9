"""State a fleet of vending servers shares on Momento's own cache: vended tokens (sealed), a
single-flight lock per token, and one mint budget. See `shared.SharedState`."""
