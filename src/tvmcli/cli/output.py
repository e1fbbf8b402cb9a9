"""Everything the CLI shows. The only module that uses Rich.

Data goes to stdout, everything else to stderr. Rich styles only on a terminal; NO_COLOR is
honoured by Rich itself.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from contextlib import contextmanager

from tvmcli.errors import ConfigError, TvmError, UsageError

TYPE_CHECKING = False  # typing stays unloaded at run time: `inspect` must start fast
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any

    from rich.console import Console

# Rich loads on first use: `mint` piped into $(...) prints plain data and never needs it.


@functools.cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def visible(text: str) -> str:
    """Control characters shown as escapes (ESC as \\x1b, a newline as \\n, U+202E as
    \\u202e): what a token, a file or an endpoint says cannot set the title, clear the screen,
    reorder text or add lines and columns to what a person reads. JSON and other data output
    (`data`) are left alone; JSON escapes them itself."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def escape(text: str) -> str:
    """For Rich: control characters made visible, then markup escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(visible(text))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def data(text: str) -> None:
    """Write data to stdout exactly as given (plus a newline), with no markup or wrapping.
    A stdout that cannot take it (full, closed) is a UsageError (exit 2), not a traceback."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        raise stdout_failed(exc) from None


def stdout_failed(exc: OSError) -> UsageError:
    """The error for a stdout that refused a write (/dev/full, a closed descriptor). What is
    still buffered is sent to /dev/null, so the interpreter's last flush cannot fail again
    (that printed "Exception ignored" and turned the exit code into 120)."""
    import os

    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    return UsageError(f"cannot write to standard output: {exc.strerror or type(exc).__name__}")


def json_data(value: Any) -> None:
    data(json.dumps(value, indent=2, sort_keys=False))


def _plain_stderr() -> bool:
    """Whether stderr gets plain lines: not a terminal, and Rich not forced to style it
    (FORCE_COLOR). Rich would print the same text there; skipping it spares ~20 ms of imports
    in scripts (a `--reuse` hit, an error), see CONTRIBUTING's performance notes."""
    return not sys.stderr.isatty() and not os.environ.get("FORCE_COLOR")


_STYLES = {"warning:": "yellow", "error:": "bold red", "hint:": "dim"}


def _tell(*lines: tuple[str, str]) -> None:
    """(label, text) lines on stderr, the text with control characters made visible: plain
    in scripts, the label styled by Rich on a terminal."""
    if _plain_stderr():
        shown = (f"{label} {visible(text)}" if label else visible(text) for label, text in lines)
        sys.stderr.write("".join(line + "\n" for line in shown))
        sys.stderr.flush()
        return
    console = _console(stderr=True)
    for label, text in lines:
        style = _STYLES.get(label)
        styled = f"[{style}]{label}[/]" if style else label
        console.print(f"{styled} {escape(text)}" if label else escape(text))


def info(message: str) -> None:
    _tell(("", message))


def warning(message: str) -> None:
    _tell(("warning:", message))


def error(err: TvmError) -> None:
    problems = err.problems if isinstance(err, ConfigError) else ()
    hint = (("hint:", err.hint),) if err.hint else ()
    _tell(("error:", err.message), *(("  -", problem) for problem in problems), *hint)


def internal_error(exc: BaseException) -> None:
    # The exception's text may hold a secret (a server echo, a parsed file), so only its type.
    _tell(
        (
            "error:",
            f"internal error ({type(exc).__name__}). "
            "Rerun with --debug for a traceback, and please report it.",
        )
    )


@contextmanager
def spinner(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while waiting, only when stderr is a terminal. Yields a function
    that replaces its text (a no-op when there is no spinner)."""
    if not sys.stderr.isatty():
        yield lambda text: None
        return
    with _console(stderr=True).status(escape(message)) as status:
        yield lambda text: status.update(escape(text))


def key_values(rows: Iterable[tuple[str, str]], *, err: bool = False) -> None:
    """Aligned 'Label  value' lines on stdout (stderr with err=True), labels bold on a
    terminal. Long values (tokens) are left for the terminal to wrap, so a copied token has no
    inserted spaces."""
    rows = list(rows)
    width = max((len(visible(label)) for label, _ in rows), default=0)
    stream = sys.stderr if err else sys.stdout
    if not stream.isatty():
        try:
            for label, value in rows:
                stream.write(f"{visible(label).ljust(width)}  {visible(value)}\n")
            stream.flush()
        except OSError as exc:
            if err:
                raise
            raise stdout_failed(exc) from None
        return
    out = _console(stderr=err)
    for label, value in rows:
        out.print(
            f"[bold]{escape(visible(label).ljust(width))}[/]  {escape(value)}", soft_wrap=True
        )


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None) -> None:
    """A table on stdout: Rich on a terminal, tab-separated with a header line when piped."""
    rows = list(rows)
    if sys.stdout.isatty():
        from rich.table import Table

        _out = _console(stderr=False)
        grid = Table(*columns, title=escape(title) if title else None, title_justify="left")
        for row in rows:
            grid.add_row(*(escape(cell) for cell in row))
        _out.print(grid)
        return
    if title:
        data(visible(title))
    data("\t".join(columns))
    for row in rows:
        data("\t".join(visible(cell) for cell in row))
