"""Host and port text, and what counts as loopback: one parser and one predicate for the
credentials (plaintext only to loopback), the server (auth and Host checks) and `inspect`;
and the one rule for HTTP addresses we fetch from (https, plain http only to loopback)."""

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


def http_url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched from, or None: https, or plain http to loopback only (an
    answer fetched in the clear can be swapped on the way). For JWKS and discovery addresses,
    the CI identity-token endpoint and `mint --from`."""
    from urllib.parse import urlsplit  # only the commands that fetch need it

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host and is_loopback(host):
        return None
    if parts.scheme == "http" and host:
        return "must be https:// (plain http:// only to a loopback address)"
    return "must be an https:// URL"
