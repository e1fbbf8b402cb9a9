"""The token vending HTTP server: an ASGI app built by `create_app(settings, minter)`."""

from tvmcli.server.app import create_app
from tvmcli.settings import ServerSettings, parse_server_settings

__all__ = ["ServerSettings", "create_app", "parse_server_settings"]
