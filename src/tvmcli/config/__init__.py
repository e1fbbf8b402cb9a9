"""Configuration: the profiles file, its profiles, the [server] settings, claim rules and
password hashes."""
