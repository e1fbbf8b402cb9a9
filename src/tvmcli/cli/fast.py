"""Commands that scripts call often, answered without loading Typer, Rich or anything heavy.

Each returns an exit code, or None for anything unusual (help, unknown flags): the full Typer
app then handles it, with the same output and errors. `python -X importtime` shows the cost.
"""

from __future__ import annotations


def run(argv: list[str]) -> int | None:
    if argv in (["--version"], ["-V"]):
        from tvmcli.version import __version__

        return _write(f"momento-tvm {__version__}")
    if argv == ["cache", "path"]:
        import os

        from tvmcli.system.paths import default_cache_dir

        return _write(str(default_cache_dir(os.environ)))
    if argv[:1] == ["inspect"]:
        from tvmcli.cli.inspect_body import fast_main

        return fast_main(argv[1:])
    if argv[:1] == ["mint"]:
        return _mint(argv[1:])
    return None


# mint's options: flag -> (field of MintArgs, takes a value). Anything not here (--help,
# --debug, a typo) goes to Typer, which prints the same usage errors as always.
_MINT_OPTIONS = {
    "--expires-in": ("expires_in", True),
    "-e": ("expires_in", True),
    "--token-id": ("token_id", True),
    "--output": ("output_format", True),
    "-o": ("output_format", True),
    "--env-var": ("env_var", True),
    "--out": ("out", True),
    "--github-env": ("github_env", False),
    "--reuse": ("reuse", False),
    "--min-ttl": ("min_ttl", True),
    "--config": ("config", True),
    "-c": ("config", True),
    "--api-key-file": ("api_key_file", True),
    "--endpoint": ("endpoint", True),
    "--momento-profile": ("momento_profile", True),
    "--timeout": ("timeout", True),
    "--expires-at": ("expires_at", True),
    "--from": ("from_url", True),
    "--id-token-env": ("id_token_env", True),
    "--audience": ("audience", True),
    "--bearer-file": ("bearer_file", True),
}


def parse_options(
    argv: list[str], table: dict[str, tuple[str, bool]]
) -> tuple[list[str], dict[str, object]] | None:
    """(positional arguments, {field: value}) when every argument is plain: known options
    given once, `--opt value` or `--opt=value`. None for anything else."""
    values: dict[str, object] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("-") and arg != "-":
            name, has_inline, inline = arg.partition("=")
            spec = table.get(name)
            if spec is None or spec[0] in values:
                return None
            field, takes_value = spec
            if not takes_value:
                if has_inline:
                    return None
                values[field] = True
                continue
            value = inline if has_inline else next(args, None)
            if value is None or (not has_inline and value.startswith("-") and value != "-"):
                return None
            values[field] = value
        else:
            positional.append(arg)
    return positional, values


def _mint(argv: list[str]) -> int | None:
    parsed = parse_options(argv, _MINT_OPTIONS)
    if parsed is None or len(parsed[0]) != 1:
        return None
    (profile,), values = parsed
    from pathlib import Path

    from tvmcli.cli.mint_body import MintArgs, OutputFormat, deliver
    from tvmcli.cli.steps import exit_code_of

    try:
        if "output_format" in values:
            values["output_format"] = OutputFormat(values["output_format"])
    except ValueError:
        return None  # Typer reports the bad choice
    for field in ("out", "config", "bearer_file"):
        if field in values:
            path = Path(str(values[field]))
            if path.is_dir():
                return None  # Typer says it is a directory
            values[field] = path
    args = MintArgs(profile, **values)  # type: ignore[arg-type]
    return exit_code_of(lambda: deliver(args))


def _write(line: str) -> int:
    """One line on stdout: 0, or 2 with the reason when stdout cannot take it."""
    from tvmcli.cli.output import data, error
    from tvmcli.errors import TvmError

    try:
        data(line)
    except TvmError as err:
        error(err)
        return int(err.exit_code)
    return 0
