"""The token vending HTTP server: `build_app(config)` returns the ASGI app.

Importing this package loads nothing heavy; `build_app` loads Starlette when called.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded: `import tvmcli` must cost almost nothing

if TYPE_CHECKING:
    from typing import Any

    from tvmcli.server.app import build_app

__all__ = ["build_app"]


def __getattr__(name: str) -> Any:
    if name == "build_app":
        from tvmcli.server.app import build_app

        return build_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
