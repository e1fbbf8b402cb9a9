"""Host and port text, and what counts as loopback: one parser and one predicate for the
credentials (plaintext only to loopback), the server (auth and Host checks) and `inspect`."""

from __future__ import annotations


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (bracketed or not) and `localhost`."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("localhost", "::1"):
        return True
    parts = host.split(".")
    return (
        len(parts) == 4
        and parts[0] == "127"
        and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)
    )


def split_host_port(text: str) -> tuple[str, int | None]:
    """'host:port' -> ('host', port); '[::1]:80' -> ('::1', 80); no port -> (text, None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() and rest.startswith(":") else None
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and host and ":" not in host:
        return host, int(port)
    return text, None


def join_host_port(host: str, port: int) -> str:
    """The inverse: IPv6 addresses get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
