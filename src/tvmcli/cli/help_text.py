"""The top-level `--help`, as Typer prints it, answered by the fast path without importing
Typer (~150 ms less: `benchmarks/mint_latency.py`). Click wraps help at min(columns, 80) - 2,
so this text holds on any terminal of 80 columns or more and off a terminal; narrower ones go
to Typer. `tests/test_fast_path.py::test_top_level_help_is_typers` holds it to Typer's output
and prints the new text when a command or option changes.
"""

MIN_COLUMNS = 80

TEXT = """\
Usage: {prog} [OPTIONS] COMMAND [ARGS]...

  Mint, inspect and vend scoped Momento disposable tokens.

  Profiles in a TOML file name the caches, topics, keys and lifetimes of each
  kind of token.

Options:
  -V, --version         Show the version and exit.
  --debug               Show tracebacks for internal errors.
  --install-completion  Install completion for the current shell.
  --show-completion     Show completion for the current shell, to copy it or
                        customize the installation.
  -h, --help            Show this message and exit.

Commands:
  mint           Mint a token with exactly a profile's permissions.
  exec           Run a command with a fresh token in its environment.
  inspect        Show what a Momento key or token is, offline.
  emulator       Run a local Momento: tokens, cache, topics (no account).
  serve          Vend tokens over HTTP in the Vending Machine's JSON.
  can            Say whether a profile or token may make a call, and why.
  doctor         Check profiles, key, endpoint and clock; say what is wrong.
  hash-password  Hash a password for basic auth.
  profiles       List, show, check and create the profiles file.
  cache          Manage the tokens that --reuse keeps between commands.

  Examples:
    momento-tvm emulator --print-env --quiet
    momento-tvm mint chat-reader --config profiles.example.toml
    momento-tvm profiles list
"""
