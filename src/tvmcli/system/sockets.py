"""A listening TCP socket on loopback or any address: the one way serve and the emulator's
gRPC-web listener bind, so a taken port is the same clear usage error for both."""

from __future__ import annotations

import errno
import socket

from tvmcli.errors import UsageError


def listening_socket(host: str, port: int, *, backlog: int, flag: str = "") -> socket.socket:
    """A socket listening on host:port. proto=IPPROTO_TCP, not 0: asyncio turns Nagle off
    (TCP_NODELAY) only on sockets that say they are TCP, and with Nagle on every response
    waits ~40 ms for a delayed ACK. `flag` names the option that chose the port, if any."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        where = f" ({flag})" if flag else ""
        raise UsageError(f"cannot listen on {host}:{port}{where}: {reason}") from None
    sock.listen(backlog)
    return sock
