"""Reading a text file that the user named: THE ladder from what went wrong to what is said.

Every file a flag or a setting names (the profiles file, --api-key-file, --bearer-file,
[server.bearer] tokens_file) is read here, so each says the same things the same way:
missing, a directory, too large, not UTF-8 text, or the system's reason. Nothing is read past
`limit` bytes: `--api-key-file /dev/zero` is refused, not read until memory runs out. Pipes
(`--api-key-file <(op read ...)`, '-' for stdin) work, because the limit is counted while
reading, not asked of the file system.
"""

from __future__ import annotations

from tvmcli.errors import TvmError

TYPE_CHECKING = False  # no typing at run time: inspect reads stdin through this module
if TYPE_CHECKING:
    from typing import IO

SMALL = 64 * 1024  # a key, a token or a list of bearer tokens
LARGE = 1 << 20  # a profiles file; a real one is a few KiB


def read_text(
    path: str,
    *,
    what: str,
    error: type[TvmError],
    limit: int = SMALL,
    missing: TvmError | None = None,
) -> str:
    """The text of the file at `path`, named in messages as "{what} {path}". Every failure
    is `error` (or `missing` when there is no such file) and never quotes the content."""
    try:
        with open(path, "rb") as handle:
            return read_stream(handle, what=f"{what} {path}", error=error, limit=limit)
    except FileNotFoundError:
        raise (missing or error(f"{what} {path} does not exist")) from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None


def read_stream(
    stream: IO[bytes] | IO[str], *, what: str, error: type[TvmError], limit: int = SMALL
) -> str:
    """At most `limit` bytes of UTF-8 text from an open stream (a file, stdin). Stdin is read
    through its bytes: in the C locale Python would decode it with surrogateescape and let
    any bytes through. A stream with no bytes beneath (io.StringIO) is counted in characters,
    which is no more lenient."""
    stream = getattr(stream, "buffer", stream)
    try:
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise error(f"{what} is over {_size(limit)}; refusing to read it")
        return raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text") from None


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
