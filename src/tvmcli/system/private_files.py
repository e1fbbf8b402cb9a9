"""Writing files that hold tokens: mode 0600, atomically, nothing half-written."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from tvmcli.errors import UsageError


def _existing_kind(path: Path) -> int | None:
    """The file type (stat.S_IFMT) of what `path` names after symlinks, None if nothing."""
    try:
        return stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        return None


def _streams(kind: int | None) -> bool:
    """A character device (/dev/null, a terminal), a FIFO or a socket: written through."""
    return kind in (stat.S_IFCHR, stat.S_IFIFO, stat.S_IFSOCK)


def write_private(path: Path, text: str, *, named_by_user: bool = False) -> None:
    """Replace `path` with `text`, mode 0600. Written to a temporary file in the same folder and
    renamed over the target, so on any failure the old file is untouched and no partial file
    remains.

    With `named_by_user` (`mint --out PATH`), what the user named is honoured: a character
    device or FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written through, opened
    without creating, truncating or replacing it (renaming over it destroyed the device node);
    a symlink to a regular file replaces the file it points to, not the link; anything else
    that is not a regular file is refused. Without it (files of our own, in our folders), a
    symlink or anything else found there is replaced, never followed."""
    import tempfile  # loads random and shutil: only when a file is written

    if named_by_user:
        target = _destination(path)
        if target is None:
            _write_through(path, text)
            return
        path = target
    folder = path.parent  # "." for a bare name
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        raise


def _write_through(path: Path, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def append_once(path: Path, text: str) -> None:
    """Append `text` with a single write (for $GITHUB_OUTPUT and $GITHUB_ENV)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot append to {path}: {exc.strerror}") from None
    try:
        data = text.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):
            raise UsageError(f"short write to {path}")
    except OSError as exc:
        raise UsageError(f"cannot append to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _destination(path: Path) -> Path | None:
    """Where a file the user named is written: None for a device or FIFO (written through),
    else the path, or the file a symlink points to; UsageError for anything else there."""
    kind = _existing_kind(path)
    if _streams(kind):
        return None
    if kind is not None and kind != stat.S_IFREG:
        raise UsageError(f"cannot write {path}: it is not a regular file, a device or a FIFO")
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_writable(path: Path) -> None:
    """Refuse a destination that cannot be written, before the work that fills it is done (a
    mint spends one of Momento's 5 per second). Raises UsageError naming what is wrong."""
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    target = _destination(path)
    if target is None:
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {path}: permission denied")
        return
    path = target
    folder = path.parent  # "." for a bare name
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: no permission to create files in {folder}")


def check_private_folder(folder: Path, what: str = "folder") -> bool:
    """Whether `folder` exists; UsageError unless it is a real folder (not a symlink) owned by
    this user: writing, appending or deleting there would act wherever it points, or where
    someone else can swap files."""
    import stat

    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UsageError(f"cannot use {what} {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UsageError(
            f"{what} {folder} is not a folder owned by you",
            hint="A symlink or someone else's folder is never used; remove it, "
            "or set XDG_CACHE_HOME (XDG_CONFIG_HOME) to a folder of your own.",
        )
    return True


def private_folder(folder: Path, what: str = "folder") -> None:
    """Make `folder` (mode 0700, parents as needed) for files of ours, or check the one there:
    the same owner, symlink and mode rule for every file written into the cache or config
    folders (tokens, serve's bearer token, the emulator's log, the profiles file)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {folder}: {exc.strerror}") from None
    check_private_folder(folder, what)
    if folder.lstat().st_mode & 0o077:
        os.chmod(folder, 0o700)
