"""THE table of `mint`'s and `exec`'s options, Typer-free.

The fast path parses with it (`fast.py`), the --from rule reads which options only a local mint
takes from it (`steps.local_only`), and `tests/test_mint_flags.py` proves that the Typer
signatures of `mint` and `exec` and the `MintArgs` fields agree with it. A new option goes here
first; that test then names every place still missing it.
"""

from __future__ import annotations

from collections.abc import Mapping


class Flag:
    """One option. A plain class, not a NamedTuple: `typing` would cost a `--reuse` hit
    (which parses with this table) a tenth of its time."""

    __slots__ = ("exec_too", "field", "local_only", "names", "takes_value")

    def __init__(
        self,
        field: str,
        names: tuple[str, ...],
        takes_value: bool,
        *,
        local_only: bool = False,
        exec_too: bool = True,
    ) -> None:
        self.field = field  # the MintArgs field and the Typer parameter
        self.names = names  # the long name first
        self.takes_value = takes_value
        self.local_only = local_only  # with --from the vending server decides: refused
        self.exec_too = exec_too  # `exec` takes it too


FLAGS = (
    Flag("expires_in", ("--expires-in", "-e"), True, local_only=True),
    Flag("expires_at", ("--expires-at",), True, local_only=True),
    Flag("token_id", ("--token-id",), True),
    Flag("output_format", ("--output", "-o"), True, exec_too=False),
    Flag("env_var", ("--env-var",), True),
    Flag("out", ("--out",), True, exec_too=False),
    Flag("github_env", ("--github-env",), False, exec_too=False),
    Flag("reuse", ("--reuse",), False),
    Flag("min_ttl", ("--min-ttl",), True),
    Flag("config", ("--config", "-c"), True, local_only=True),
    Flag("api_key_file", ("--api-key-file",), True, local_only=True),
    Flag("endpoint", ("--endpoint",), True, local_only=True),
    Flag("momento_profile", ("--momento-profile",), True, local_only=True),
    Flag("timeout", ("--timeout",), True),
    Flag("from_url", ("--from",), True),
    Flag("id_token_env", ("--id-token-env",), True),
    Flag("audience", ("--audience",), True),
    Flag("bearer_file", ("--bearer-file",), True),
)

# flag -> (field, takes a value), for the fast path's parser.
BY_NAME = {name: (flag.field, flag.takes_value) for flag in FLAGS for name in flag.names}
EXEC_BY_NAME = {
    name: (flag.field, flag.takes_value) for flag in FLAGS if flag.exec_too for name in flag.names
}


def local_only(values: Mapping[str, object]) -> dict[str, object]:
    """{flag: value} of the options only a local mint takes, from {field: value}."""
    return {flag.names[0]: values.get(flag.field) for flag in FLAGS if flag.local_only}
