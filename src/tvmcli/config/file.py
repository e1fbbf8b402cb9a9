"""The whole configuration, built once: the profiles file -> a validated, frozen `Config`.

`load_config()` finds the file as the CLI does, validates every profile and the `[server]`
table, and raises one `ConfigError` listing every problem. The CLI, `serve` and each of its
worker processes, the tests and a user's own web app all stand on the `Config` it returns.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvmcli.config.profiles import Problems, Profile, listing, read_profiles, suggest
from tvmcli.config.server_table import check_startup, parse_server_settings
from tvmcli.config.settings import ServerSettings
from tvmcli.errors import ConfigError, UnknownProfileError, UsageError
from tvmcli.system import envvars, text_files
from tvmcli.system.paths import LOCAL_CONFIG_NAME, default_profiles_file, profiles_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Config:
    """Profiles by name, the typed `[server]` settings, and the file they came from."""

    path: Path
    profiles: Mapping[str, Profile]
    server: ServerSettings = field(default_factory=ServerSettings)

    def profile(self, name: str) -> Profile:
        """The profile called `name`; `UnknownProfileError` (exit 3) suggests a near name."""
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(
                f"{self.path}: no profile named {name!r}",
                hint=suggest(name, list(self.profiles)) or listing(self.profiles),
            ) from None

    def with_server(self, **changes: Any) -> Config:
        """A copy with `[server]` values replaced (command-line flags over the file), checked
        against the rules that depend on where the server binds (exit 3)."""
        server = dataclasses.replace(self.server, **changes)
        check_startup(server)
        return dataclasses.replace(self, server=server)


def default_config_path(env: Mapping[str, str]) -> Path:
    return Path(default_profiles_file(env))


def find_config(explicit: Path | None, env: Mapping[str, str], cwd: Path | None = None) -> Path:
    """--config, else $MOMENTO_TVM_CONFIG, else ./momento-tvm.toml, else the XDG location
    (`paths.profiles_file`, THE search). The current folder (`cwd` None: this process's) is
    asked for only when the first two are not given, so a deleted one matters only then."""
    if explicit is not None:
        return explicit
    try:
        return Path(profiles_file(None, env, None if cwd is None else str(cwd)))
    except FileNotFoundError:
        raise UsageError(
            "the current folder no longer exists, so ./momento-tvm.toml cannot be looked for",
            hint="cd to a folder that exists, or name the file: --config FILE.",
        ) from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Read and validate the profiles file. With `path` None, look where the CLI looks:
    $MOMENTO_TVM_CONFIG, ./momento-tvm.toml, then ~/.config/momento-tvm/profiles.toml."""
    environment = os.environ if env is None else env
    found = find_config(None, environment, cwd) if path is None else Path(path)
    missing = _no_file(found, searched=path is None and not environment.get(envvars.CONFIG))
    text = text_files.read_text(
        str(found), what="profiles file", error=ConfigError, limit=text_files.LARGE, missing=missing
    )
    return parse_config(text, found)


MAX_DEPTH = 32  # of arrays and tables in a profiles file; a real one nests 4 or 5 deep


class _TooDeep(ValueError):
    pass


class _TooLong(ValueError):
    """An integer past Python's limit on digits (4300 by default): tomllib's int() raises a
    plain ValueError for it, not a TOMLDecodeError."""


def _loads(text: str) -> dict[str, Any]:
    """TOML -> dict; _TooDeep for nesting past MAX_DEPTH (tomllib recurses per level and
    fails with RecursionError when deep enough; everything after it walks the values too)."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _TooDeep from None
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:
        raise _TooLong from None
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:  # iterative: the check itself must not recurse
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _TooDeep
        if isinstance(value, dict):
            pending.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            pending.extend((v, depth + 1) for v in value)
    return data


def profile_names(path: Path) -> dict[str, str]:
    """Profile names and descriptions, read without validating anything: for shell completion,
    which must be quick and must never fail. Raises OSError or ValueError on a broken file."""
    data = _loads(path.read_bytes().decode("utf-8"))
    profiles = data.get("profiles")
    if not isinstance(profiles, dict):
        return {}
    return {
        name: str(body.get("description", "")) if isinstance(body, dict) else ""
        for name, body in profiles.items()
    }


def _no_file(found: Path, *, searched: bool) -> ConfigError:
    """Where a user without a file looked, and the command that makes one."""
    if searched:
        return ConfigError(
            f"no profiles file: neither ./{LOCAL_CONFIG_NAME} nor {found} exists",
            hint="Create one with `momento-tvm profiles init` (a commented starter), "
            "or pass --config FILE or set MOMENTO_TVM_CONFIG.",
        )
    return ConfigError(
        f"no profiles file at {found}",
        hint=f"Create it with `momento-tvm profiles init {found}` (a commented starter).",
    )


STARTER_NAME = "profiles.example.toml"


def starter_text() -> str:
    """The commented example profiles file that ships in the package."""
    from importlib import resources

    return (resources.files("tvmcli") / STARTER_NAME).read_text(encoding="utf-8")


def write_starter(path: Path, *, force: bool = False, env: Mapping[str, str] | None = None) -> None:
    """Write the starter profiles file to `path` (folders made as needed). An existing file is
    kept unless `force`: then it is replaced atomically. Into the user's config folder (the
    default path for `env`) only if that is a real folder of this user's (0700), never
    through a symlink. Raises UsageError."""
    from tvmcli.errors import UsageError
    from tvmcli.system.private_files import private_folder, write_private

    if env is not None and path == default_config_path(env):
        private_folder(path.parent, "config folder")

    if path.is_dir():
        raise UsageError(
            f"{path} is a directory; give a file name such as {path / 'profiles.toml'}"
        )
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="Pass --force to replace it with the starter file."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {path.parent}: {exc.strerror}") from None
    write_private(path, starter_text())


def fleet_problems(profiles: Mapping[str, Profile], cache: str, path: Path) -> list[str]:
    """In fleet mode (`[server.state] backend = "momento"`), a profile whose tokens could write
    the fleet's state cache would let any holder of one fill the mint budget's slots or
    corrupt shared entries (issue 22): one problem per such profile. The evaluator decides,
    for each cache action that writes, on a key each statement covers (its key, its prefix,
    or any key for all items): a statement that allows a write anywhere allows it there."""
    from tvmcli.permissions.evaluator import Action, permits
    from tvmcli.permissions.roles import Resource
    from tvmcli.permissions.statements import ALL

    writes = (Action.SET, Action.DELETE, Action.SET_IF_ABSENT, Action.INCREMENT)
    found = []
    for name, profile in profiles.items():
        witnesses = {
            statement.key or statement.key_prefix or ""
            for statement in profile.statements
            if statement.resource is Resource.CACHE and statement.cache in (ALL, cache)
        }
        decision = next(
            (
                decided
                for key in sorted(witnesses)
                for action in writes
                if (decided := permits(profile, action, cache, key)).allowed
            ),
            None,
        )
        if decision is not None:
            found.append(
                f"{path}: profile {name!r}: its tokens could write the fleet's state cache "
                f"{cache!r} ({decision.reason}); in fleet mode no vended token may. Name "
                "other caches in it, or keep the state in a cache no profile names "
                "([server.state] cache)"
            )
    return found


def check_fleet(config: Config) -> None:
    """`fleet_problems` as one ConfigError (exit 3), for a Config built without the parser."""
    if config.server.state.backend != "momento":
        return
    problems = fleet_problems(config.profiles, config.server.state.cache, config.path)
    if problems:
        count = len(problems)
        raise ConfigError(
            f"{config.path}: {count} profile{'s' if count > 1 else ''} could write the "
            "fleet's state cache",
            problems=problems,
        )


def parse_config(text: str, path: Path) -> Config:
    """Validate a whole profiles file given as text; one ConfigError lists every problem."""
    try:
        data = _loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint="Parsing stopped at that line and column: look for a missing quote, bracket "
            'or comma there (strings need quotes: cache = "chat").',
        ) from None
    except _TooLong:
        raise ConfigError(
            f"{path}: not valid TOML: a number has too many digits (Python reads integers of "
            "up to 4300 digits)",
            hint="No profile or [server] setting needs a number that long.",
        ) from None
    except _TooDeep:
        raise ConfigError(
            f"{path}: nested too deeply (arrays or tables more than {MAX_DEPTH} levels deep)",
            hint="No profile or [server] setting nests more than a few levels.",
        ) from None
    problems = Problems(path)
    profiles = read_profiles(data, problems)
    profile_problems = len(problems.items)
    server = ServerSettings()
    raw_server = data.get("server", {})
    if isinstance(raw_server, dict):
        names = data.get("profiles")
        # Names of every profile table, valid or not: a broken profile is reported once, as
        # itself, not again as "no profile named ..." under [server].
        known = list(names) if isinstance(names, dict) else []
        server = parse_server_settings(raw_server, problems, known) or server
    if not problems and server.state.backend == "momento":
        problems.items.extend(fleet_problems(profiles, server.state.cache, path))
        profile_problems = len(problems.items)
    if problems:
        count = len(problems.items)
        where = "the profiles file" if profile_problems else "[server]"
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''} in {where}",
            problems=problems.items,
        )
    if not profiles:
        raise ConfigError(
            f"no profiles in {path}",
            hint="Each profile is a [profiles.NAME] table with its permissions; "
            "`momento-tvm profiles init` writes a commented starter to begin from.",
        )
    return Config(path=path, profiles=profiles, server=server)
