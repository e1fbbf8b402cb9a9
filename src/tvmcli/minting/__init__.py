"""Minting: the token-service client (deadline, retries, error mapping) and the vended Token."""
