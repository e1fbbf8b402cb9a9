"""The package's version: the one place it lives (pyproject reads it, scripts/release-notes
checks tags against it). A module of its own so that the core's low floors (the minter's and
the cache client's agent header) need not import the package's face, `tvmcli/__init__.py`."""

__version__ = "0.1.0"
