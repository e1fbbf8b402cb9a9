"""`momento-tvm hash-password`: a salted scrypt hash for [server.users.NAME] password_hash."""

from __future__ import annotations

import getpass
import sys

from tvmcli.cli import options, output
from tvmcli.errors import UsageError
from tvmcli.system import text_files

EPILOG = """\
\b
Examples:
  momento-tvm hash-password                  # asks twice, prints the hash
  printf '%s' "$PASSWORD" | momento-tvm hash-password
"""


@options.handle_errors
def hash_password() -> None:
    """Hash a password for basic auth. Reads it from the terminal (twice) or from stdin; it
    must be at least 8 characters."""
    from tvmcli.config.passwords import hash_password as make_hash

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the passwords differ")
    else:
        password = text_files.read_stream(sys.stdin, what="standard input", error=UsageError)
        password = password.rstrip("\r\n")
    if len(password) < 8:
        raise UsageError("use a password of at least 8 characters")
    output.data(make_hash(password))
