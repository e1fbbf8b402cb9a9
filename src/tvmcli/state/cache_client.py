"""A small async client for the Momento cache calls shared state needs, over the SDK's wire
types (like `minting`, no SDK object on the path): Get, Set, SetIfNotExists, Delete, Increment.

Errors: `CacheUnavailable` for anything that means "the cache cannot answer now" (the caller
then degrades to per-process state); a refusal of the key (UNAUTHENTICATED, PERMISSION_DENIED)
is `CacheRefused`, which also degrades but is worth a louder log line.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
from momento_wire_types import cacheclient_pb2 as pb
from momento_wire_types import cacheclient_pb2_grpc

from tvmcli.credentials.sources import ApiKey, target_for
from tvmcli.minting.client import AGENT, open_channel


class CacheUnavailable(Exception):
    """The cache did not answer usefully; `status` is the gRPC status name."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class CacheRefused(CacheUnavailable):
    """The server's key may not use the state cache."""


class CacheClient:
    def __init__(self, api_key: ApiKey, cache: str, *, timeout: float = 1.0) -> None:
        self._target = target_for(api_key.endpoint, "cache")
        self._metadata = (("authorization", api_key.secret), ("cache", cache), AGENT)
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: cacheclient_pb2_grpc.ScsStub | None = None

    def _connect(self) -> cacheclient_pb2_grpc.ScsStub:
        if self._stub is None:
            self._channel = open_channel(self._target)
            self._stub = cacheclient_pb2_grpc.ScsStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=None)
            self._channel = self._stub = None

    async def get(self, key: bytes) -> bytes | None:
        answer = await self._call("Get", pb._GetRequest(cache_key=key))
        return bytes(answer.cache_body) if answer.result == pb.Hit else None

    async def set(self, key: bytes, value: bytes, ttl: float) -> None:
        await self._call(
            "Set", pb._SetRequest(cache_key=key, cache_body=value, ttl_milliseconds=_ms(ttl))
        )

    async def set_if_not_exists(self, key: bytes, value: bytes, ttl: float) -> bool:
        answer = await self._call(
            "SetIfNotExists",
            pb._SetIfNotExistsRequest(cache_key=key, cache_body=value, ttl_milliseconds=_ms(ttl)),
        )
        return bool(answer.HasField("stored"))

    async def delete(self, key: bytes) -> None:
        await self._call("Delete", pb._DeleteRequest(cache_key=key))

    async def increment(self, key: bytes, ttl: float) -> int:
        answer = await self._call(
            "Increment", pb._IncrementRequest(cache_key=key, amount=1, ttl_milliseconds=_ms(ttl))
        )
        return int(answer.value)

    async def _call(self, method: str, request: object) -> Any:
        call = getattr(self._connect(), method)
        try:
            answer = await call(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            name = code.name if code is not None else "UNKNOWN"
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise CacheRefused(name) from None
            raise CacheUnavailable(name) from None
        if answer is None:  # grpc's answer for bytes that do not parse as the reply
            raise CacheUnavailable("UNDECODABLE_ANSWER")
        return answer


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
