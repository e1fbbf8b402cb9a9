"""Where per-user files live: an override variable if set, else a folder under $HOME."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def user_dir(env: Mapping[str, str], variable: str, under_home: str) -> Path:
    """$variable if set (e.g. XDG_CACHE_HOME), else ~/under_home (e.g. .cache)."""
    if env.get(variable):
        return Path(env[variable])
    return Path(env.get("HOME", "~")).expanduser() / under_home


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """Where `--reuse` keeps tokens and `serve` its generated bearer token."""
    return user_dir(env, "XDG_CACHE_HOME", ".cache") / "momento-tvm"
