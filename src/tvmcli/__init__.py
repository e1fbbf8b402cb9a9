"""momento-tvm: mint, inspect and vend scoped Momento disposable tokens.

The library behind the `momento-tvm` command, for Python code (see the README's "Use it from
Python"):

    import tvmcli

    config = tvmcli.load_config("momento-tvm.toml")
    token = tvmcli.mint("chat-reader", config=config)      # one token, now
    vendor = tvmcli.Vendor(config)                         # a web app's token route
    token = vendor.token("chat-reader", token_id=user_id)  # reused, single flight, 5/s budget

Names load on first use, so `import tvmcli` costs almost nothing (the CLI starts fast).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded: `import tvmcli` must cost almost nothing

if TYPE_CHECKING:
    from typing import Any

    from tvmcli.api import mint, mint_async
    from tvmcli.config.file import Config, load_config
    from tvmcli.config.profiles import Profile
    from tvmcli.config.settings import ServerSettings
    from tvmcli.errors import (
        AuthError,
        ConfigError,
        ExpiredError,
        MintLimitError,
        MintTimeoutError,
        MomentoError,
        MomentoRejectedError,
        TvmError,
        UnavailableError,
        UnknownProfileError,
        UsageError,
    )
    from tvmcli.minting.tokens import Token
    from tvmcli.permissions.evaluator import Decision, permits
    from tvmcli.vending.vendor import Vendor
    from tvmcli.version import __version__

__all__ = [
    "AuthError",
    "Config",
    "ConfigError",
    "Decision",
    "ExpiredError",
    "MintLimitError",
    "MintTimeoutError",
    "MomentoError",
    "MomentoRejectedError",
    "Profile",
    "ServerSettings",
    "Token",
    "TvmError",
    "UnavailableError",
    "UnknownProfileError",
    "UsageError",
    "Vendor",
    "__version__",
    "load_config",
    "mint",
    "mint_async",
    "permits",
]

_WHERE = {
    "mint": "tvmcli.api",
    "mint_async": "tvmcli.api",
    "Config": "tvmcli.config.file",
    "load_config": "tvmcli.config.file",
    "Profile": "tvmcli.config.profiles",
    "ServerSettings": "tvmcli.config.settings",
    "Token": "tvmcli.minting.tokens",
    "permits": "tvmcli.permissions.evaluator",
    "Decision": "tvmcli.permissions.evaluator",
    "Vendor": "tvmcli.vending.vendor",
    "__version__": "tvmcli.version",
    **dict.fromkeys(
        (
            "AuthError",
            "ConfigError",
            "ExpiredError",
            "MintLimitError",
            "MintTimeoutError",
            "MomentoError",
            "MomentoRejectedError",
            "TvmError",
            "UnavailableError",
            "UnknownProfileError",
            "UsageError",
        ),
        "tvmcli.errors",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tvmcli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
