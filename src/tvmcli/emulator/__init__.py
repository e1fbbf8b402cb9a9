"""A local Momento over the real gRPC protocol, for offline use and tests: the token service,
the cache calls (cache_service) and Topics (topics_service) on one port, every data-plane call
decided by the one permission evaluator (tvmcli.permits, through access.Gate); and, for
browsers, a gRPC-web listener (grpc_web) that forwards every call to that port.

It imports nothing from tvmcli.cli: the CLI is one way to run it, a pytest fixture another.
"""

from tvmcli.emulator.runner import Emulator
from tvmcli.emulator.service import Faults, TokenService
from tvmcli.emulator.topics_service import TopicsService

__all__ = ["Emulator", "Faults", "TokenService", "TopicsService"]
