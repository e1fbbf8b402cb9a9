"""Where per-user files live: an override variable if set, else a folder under $HOME.

Each location is computed once here, as a plain string (os.path, no pathlib: a `--reuse` hit
resolves the profiles file and the Momento CLI's credentials without loading pathlib); the
`Path` forms wrap the same functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tvmcli.system import envvars

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

LOCAL_CONFIG_NAME = "momento-tvm.toml"  # a profiles file in the working folder


def user_folder(env: Mapping[str, str], variable: str, under_home: str) -> str:
    """$variable if set (e.g. XDG_CACHE_HOME), else ~/under_home (e.g. .cache)."""
    if env.get(variable):
        return env[variable]
    return os.path.join(os.path.expanduser(env.get("HOME", "~")), under_home)


def user_dir(env: Mapping[str, str], variable: str, under_home: str) -> Path:
    from pathlib import Path

    return Path(user_folder(env, variable, under_home))


def cache_folder(env: Mapping[str, str]) -> str:
    """Where `--reuse` keeps tokens and `serve` its generated bearer token."""
    return os.path.join(user_folder(env, "XDG_CACHE_HOME", ".cache"), "momento-tvm")


def default_cache_dir(env: Mapping[str, str]) -> Path:
    from pathlib import Path

    return Path(cache_folder(env))


def default_profiles_file(env: Mapping[str, str]) -> str:
    return os.path.join(
        user_folder(env, "XDG_CONFIG_HOME", ".config"), "momento-tvm", "profiles.toml"
    )


def profiles_file(explicit: str | None, env: Mapping[str, str], cwd: str | None) -> str:
    """THE search: --config, else $MOMENTO_TVM_CONFIG, else ./momento-tvm.toml if it exists,
    else the XDG location (~/.config/momento-tvm/profiles.toml). `cwd` None: this process's
    folder, asked for only at the third step (FileNotFoundError if it was deleted)."""
    if explicit is not None:
        return explicit
    if env.get(envvars.CONFIG):
        return env[envvars.CONFIG]
    local = os.path.join(os.getcwd() if cwd is None else cwd, LOCAL_CONFIG_NAME)
    if os.path.exists(local):
        return local
    return default_profiles_file(env)


def momento_cli_credentials(env: Mapping[str, str]) -> str:
    """The Momento CLI's credentials file: $MOMENTO_CONFIG_DIR/credentials, else
    ~/.momento/credentials."""
    return os.path.join(user_folder(env, envvars.MOMENTO_CONFIG_DIR, ".momento"), "credentials")
