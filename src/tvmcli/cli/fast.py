"""Commands that scripts call often, answered without loading Typer, Rich or anything heavy.

Each returns an exit code, or None for anything unusual (help, unknown flags): the full Typer
app then handles it, with the same output and errors. `python -X importtime` shows the cost.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded here
if TYPE_CHECKING:
    from tvmcli.cli.mint_body import MintArgs


def run(argv: list[str], prog: str = "momento-tvm") -> int | None:
    if argv in (["--help"], ["-h"]) or (not argv and not _completing(prog)):
        return _help(prog)  # a bare momento-tvm asks for usage: exit 0
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
    if argv[:1] == ["exec"] and "--" in argv:
        split = argv.index("--")
        return _exec(argv[1:split], argv[split + 1 :])
    return None


def parse_options(
    argv: list[str], table: dict[str, tuple[str, bool]]
) -> tuple[list[str], dict[str, object]] | None:
    """(positional arguments, {field: value}) when every argument is plain: known options
    given once, `--opt value`, `--opt=value` or `-o value`. None for anything else: Click
    reads `-o=value` as the value "=value", a reading left to Typer."""
    values: dict[str, object] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("-") and arg != "-":
            name, has_inline, inline = arg.partition("=")
            if has_inline and not name.startswith("--"):
                return None
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
    """Anything `mint_flags` does not list (--help, --debug, a typo) goes to Typer, which
    prints the same usage errors as always."""
    parsed = _parse(argv, exec_only=False)
    if parsed is None:
        return None
    hit = _reuse_hit(parsed, exec_only=False)
    if hit is not None:
        form, token, expires_at, env_var, _ = hit
        from tvmcli.cli.token_text import env_lines, token_variables

        variables = token_variables(token, expires_at, env_var)
        return _write(token if form == "raw" else env_lines(form, variables).rstrip("\n"))
    args = _mint_args(parsed)
    if args is None:
        return None
    from tvmcli.cli.mint_body import deliver
    from tvmcli.cli.steps import exit_code_of

    return exit_code_of(lambda: deliver(args))


def _exec(argv: list[str], command: list[str]) -> int | None:
    """`exec PROFILE [OPTIONS] -- COMMAND...`: the options before the first `--` as for
    mint (those `exec` takes); the command is never parsed."""
    parsed = _parse(argv, exec_only=True)
    if parsed is None:
        return None
    hit = _reuse_hit(parsed, exec_only=True) if command else None
    if hit is not None:
        import os

        from tvmcli.cli.launch import launch
        from tvmcli.cli.token_text import child_environment, secrets_of

        _, token, expires_at, env_var, fetched = hit
        hidden = secrets_of(fetched, parsed[1].get("id_token_env"))  # type: ignore[arg-type]
        env = child_environment(dict(os.environ), token, expires_at, env_var, hidden)
        return launch(command, env)
    args = _mint_args(parsed)
    if args is None:
        return None
    from tvmcli.cli import exec_body
    from tvmcli.cli.steps import exit_code_of

    code = 0

    def run() -> None:
        nonlocal code
        code = exec_body.run(args, command)

    failed = exit_code_of(run)
    return failed or code


def _parse(argv: list[str], *, exec_only: bool) -> tuple[str, dict[str, object]] | None:
    """(profile, {MintArgs field: value as given}) of plain arguments, or None for anything
    Typer should see."""
    from tvmcli.cli.mint_flags import BY_NAME, EXEC_BY_NAME

    parsed = parse_options(argv, EXEC_BY_NAME if exec_only else BY_NAME)
    if parsed is None or len(parsed[0]) != 1:
        return None
    (profile,), values = parsed
    return profile, values


# The forms a hit prints itself: text (a terminal's summary) shows the profile's grants, and
# --out, --output json and github write through modules a hit does not load.
HIT_FORMS = ("raw", "env", "fish", "powershell", "dotenv")


def _reuse_hit(
    parsed: tuple[str, dict[str, object]], *, exec_only: bool
) -> tuple[str, str, int, str, bool] | None:
    """(form, token, expires_at, variable, fetched from a vending server) when `--reuse`
    finds its token by the shortcut the last run left (`vending/cache_files.py`), said on
    stderr as the full path says it.
    None sends the run the full path: no --reuse, an option a hit does not handle (the full
    path reports its mistakes), or no trusted token with --min-ttl left."""
    profile, values = parsed
    if not values.get("reuse") or "timeout" in values:
        return None
    form = "raw" if exec_only else values.get("output_format")
    env_var = values.get("env_var")
    if form is None and not _stdout_is_terminal():
        form = "raw"
    if form not in HIT_FORMS or values.get("out", "-") != "-" or "github_env" in values:
        return None
    if env_var is not None and form == "raw" and not exec_only:
        return None  # --env-var names no variable in raw: the full path's usage error
    import os

    from tvmcli.cli.token_text import check_variable_name
    from tvmcli.system import envvars
    from tvmcli.system.durations import format_relative, parse_duration
    from tvmcli.system.paths import cache_folder
    from tvmcli.vending import cache_files

    variable = str(env_var or envvars.DEFAULT_TOKEN_VARIABLE)
    try:
        check_variable_name(variable)
        least = parse_duration(str(values.get("min_ttl", cache_files.DEFAULT_MIN_TTL)))
    except ValueError:
        return None
    digest = cache_files.inputs_digest({**values, "profile": profile}, os.environ)
    found = None if digest is None else cache_files.follow(cache_folder(os.environ), digest, least)
    if found is None:
        return None
    token, _, expires_at, _, name, fixed, came = found
    if values.get("token_id") not in (None, fixed) and fixed is not None:
        return None  # the full path warns that the profile's own token id stands
    import time

    from tvmcli.cli import output

    left = format_relative(expires_at - time.time())
    output.info(f"Reusing the {name} token {came} earlier (expires {left})")
    return str(form), token, expires_at, variable, came == "fetched"


def _stdout_is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def _mint_args(parsed: tuple[str, dict[str, object]]) -> MintArgs | None:
    """The MintArgs of parsed plain arguments, or None for anything Typer should see."""
    profile, values = parsed
    values = dict(values)
    from pathlib import Path

    from tvmcli.cli.mint_body import MintArgs, OutputFormat

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
    return MintArgs(profile, **values)  # type: ignore[arg-type]


def _completing(prog: str) -> bool:
    """The shell asking for completions: it runs the bare program with _PROG_COMPLETE set."""
    import os

    return f"_{prog.replace('-', '_').upper()}_COMPLETE" in os.environ


def _help(prog: str) -> int | None:
    import shutil

    from tvmcli.cli.help_text import MIN_COLUMNS, TEXT

    if shutil.get_terminal_size().columns < MIN_COLUMNS:
        return None  # click wraps narrower: Typer prints it
    return _write(TEXT.format(prog=prog).removesuffix("\n"))


def _write(line: str) -> int:
    """One line on stdout: 0, or 2 with the reason when stdout cannot take it (`output` loads
    only then: --version stays at the interpreter's floor)."""
    import sys

    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except OSError as exc:
        from tvmcli.cli import output

        failure = output.stdout_failed(exc)
        output.error(failure)
        return int(failure.exit_code)
    return 0
