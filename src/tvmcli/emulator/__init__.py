"""A local Momento token service over the real gRPC protocol, for offline use and tests.

It imports nothing from tvmcli.cli: the CLI is one way to run it, a pytest fixture another.
"""

from tvmcli.emulator.runner import Emulator
from tvmcli.emulator.service import Faults, TokenService

__all__ = ["Emulator", "Faults", "TokenService"]
