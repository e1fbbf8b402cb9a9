"""A tiny plain grpcio server on loopback that answers chosen methods with bytes that are no
protobuf message, and forwards every other call, byte for byte, to a real service (the
emulator): a token service or a cache that answers garbage, over real gRPC."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc

GARBAGE = b"\xff\xff\xff\xff\xff"  # a field tag whose varint never ends: no message parses it
TOKEN_METHOD = "/token.Token/GenerateDisposableToken"


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, garbage: set[str], upstream: grpc.Channel | None) -> None:
        self.garbage = garbage
        self.upstream = upstream
        self.answered: list[str] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method

        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            if method in self.garbage or self.upstream is None:
                self.answered.append(method)
                return GARBAGE
            forward: Callable[..., bytes] = self.upstream.unary_unary(method)
            try:
                return forward(request, metadata=context.invocation_metadata(), timeout=5)
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "")  # type: ignore[attr-defined]
                raise

        return grpc.unary_unary_rpc_method_handler(answer)  # bytes in, bytes out


@contextlib.contextmanager
def garbage_server(garbage: set[str], upstream: str | None = None) -> Iterator[Any]:
    """Yields an object with `endpoint` (127.0.0.1:PORT) and `answered` (methods it spoiled)."""
    channel = grpc.insecure_channel(upstream) if upstream is not None else None
    handler = _Handler(garbage, channel)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    handler.endpoint = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.stop(grace=None)
        if channel is not None:
            channel.close()
