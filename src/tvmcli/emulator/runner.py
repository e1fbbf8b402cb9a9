"""Starting and stopping the emulator: in-process (tests) or from `momento-tvm emulator`."""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent import futures
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import grpc.aio
from momento_wire_types import cacheclient_pb2_grpc, cachepubsub_pb2_grpc, token_pb2_grpc

from tvmcli.emulator.access import Gate
from tvmcli.emulator.cache_service import CacheService
from tvmcli.emulator.grpc_web import WebListener
from tvmcli.emulator.service import DEFAULT_RATE_LIMIT, Faults, TokenService
from tvmcli.emulator.topics_service import (
    HEARTBEAT_SECONDS,
    MAX_SUBSCRIPTIONS,
    QUEUE_ITEMS,
    RETAINED_ITEMS,
    TopicsService,
)
from tvmcli.errors import ConfigError, UsageError

_log = logging.getLogger("tvmcli.emulator")

HOST = "127.0.0.1"
SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret from `path`, created (mode 0600) if absent, so keys survive restarts."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        secret = secrets.token_hex(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise UsageError(f"cannot create secret file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
        return secret.encode("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise UsageError(f"cannot read secret file {path}: {reason}") from None
    if len(text) < 32:
        raise ConfigError(f"secret file {path} holds fewer than 32 characters; delete it to renew")
    return text.encode("ascii")


def _check_port_free(port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise UsageError(f"cannot listen on {HOST}:{port}: {reason}") from None


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it installs (uvicorn's own choice too): its loop machinery is native code,
    and the gRPC server's loop runs every topic delivery."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop installs everywhere we run CPython on Unix
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Emulator:
    """A running token service, and the cache and topic calls of Momento's data plane, on one
    port of 127.0.0.1. `with Emulator() as emu:` starts and stops it. With `web_port` (0: a free
    one) a second listener serves the same calls over gRPC-web for browsers (`web_endpoint`),
    forwarding each to the gRPC port; `web_origins` are CORS origins allowed beside
    http://localhost:* and http://127.0.0.1:*."""

    def __init__(
        self,
        *,
        port: int = 0,
        secret: bytes | None = None,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        faults: Faults | None = None,
        max_workers: int = 16,
        heartbeat: float = HEARTBEAT_SECONDS,
        topic_retained: int = RETAINED_ITEMS,
        topic_queue: int = QUEUE_ITEMS,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        web_port: int | None = None,
        web_origins: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` is the token service's (its `valid_until`, key expiry): one that is off
        plays a service whose clock disagrees with this machine's (`doctor`'s skew check)."""
        secret = secret or secrets.token_hex(SECRET_BYTES).encode("ascii")
        self.service = TokenService(secret, rate_limit=rate_limit, faults=faults, clock=clock)
        self.gate = Gate(secret)
        self.cache = CacheService(secret, gate=self.gate)
        self.topics = TopicsService(
            secret,
            gate=self.gate,
            heartbeat=heartbeat,
            retained=topic_retained,
            queue=topic_queue,
            max_subscriptions=max_subscriptions,
        )
        self._requested_port = port
        self._max_workers = max_workers
        # The gRPC port is a `grpc.aio` server on a loop thread of its own (made by `start`):
        # topics run on the loop; the synchronous token and cache servicers run in its
        # migration thread pool. See CONTRIBUTING, "Topics on grpc.aio".
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._pool: futures.ThreadPoolExecutor | None = None
        self._server: grpc.aio.Server | None = None
        self.port = 0
        self.web: WebListener | None = None
        self._web_port = web_port
        self._web_origins = tuple(web_origins)
        if web_port is not None:  # origins are checked before anything listens
            self.web = WebListener("", port=web_port, origins=self._web_origins)

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def web_endpoint(self) -> str | None:
        """http://127.0.0.1:PORT of the gRPC-web listener, what the Web SDK's endpoint
        overrides take; None without one."""
        return self.web.endpoint if self.web is not None else None

    def start(self) -> Emulator:
        # Probe first: gRPC's own failure prints a raw C-core log line before ours.
        _check_port_free(self._requested_port)
        loop = self._loop = _new_loop()
        self._loop_thread = threading.Thread(
            target=loop.run_forever, name="emulator-grpc", daemon=True
        )
        self._loop_thread.start()
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result()
            self.service.endpoint = self.endpoint
            if self.web is not None:
                self.web.app.grpc_target = self.endpoint
                self.web.start()
        except BaseException:
            self._stop_grpc(None)
            raise
        return self

    async def _serve(self) -> int:
        """Make, bind and start the gRPC server (on the loop: grpc.aio binds it there)."""
        self._pool = futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="emulator-unary"
        )
        server = self._server = grpc.aio.server(
            migration_thread_pool=self._pool,
            interceptors=[NoExceptionText()],
            # gRPC sets SO_REUSEPORT by default: a second emulator would silently share the port.
            options=[("grpc.so_reuseport", 0)],
        )
        token_pb2_grpc.add_TokenServicer_to_server(self.service, server)  # type: ignore[no-untyped-call]
        cacheclient_pb2_grpc.add_ScsServicer_to_server(self.cache, server)  # type: ignore[no-untyped-call]
        cachepubsub_pb2_grpc.add_PubsubServicer_to_server(self.topics, server)  # type: ignore[no-untyped-call]
        try:
            port = server.add_insecure_port(f"{HOST}:{self._requested_port}")
        except RuntimeError:
            port = 0
        if port == 0:
            raise UsageError(f"cannot listen on {HOST}:{self._requested_port}: the port is in use")
        await server.start()
        return port

    def stop(self, grace: float | None = 1.0) -> None:
        # gRPC first: its streams end, so the gRPC-web answers relaying them end too.
        self.topics.close_all()
        self._stop_grpc(grace)
        if self.web is not None:
            self.web.stop()

    def _stop_grpc(self, grace: float | None) -> None:
        """Stop the gRPC server, then its loop and thread pool; safe to call again."""
        loop, thread = self._loop, self._loop_thread
        self._loop = self._loop_thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(grace), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def _shutdown(self, grace: float | None) -> None:
        """On the loop: stop the server, then end what is left on the loop."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
        current = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not current]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()

    def issue_api_key(self, *, expires_in: int | None = None, can_mint: bool = True) -> str:
        return self.service.issue_api_key(expires_in=expires_in, can_mint=can_mint)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(grace=None)


class NoExceptionText(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """No call answers with an exception's text. gRPC answers an exception that escapes a
    handler with UNKNOWN and the exception's message in it; here it is INTERNAL with a fixed
    message, and the log names only its type. Aborts (AbortError) pass as they are. Unary
    handlers keep their kind: synchronous ones still run in the server's thread pool."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behaviour = handler.unary_unary
        method = handler_call_details.method
        failed = "the emulator failed on this call"

        def guarded(request: Any, context: Any) -> Any:
            try:
                return behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                _log.error("emulator: %s failed (%s)", method, type(error).__name__)
                context.abort(grpc.StatusCode.INTERNAL, failed)
                raise

        async def guarded_async(request: Any, context: Any) -> Any:
            try:
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                _log.error("emulator: %s failed (%s)", method, type(error).__name__)
                await context.abort(grpc.StatusCode.INTERNAL, failed)
                raise

        return grpc.unary_unary_rpc_method_handler(
            guarded_async if inspect.iscoroutinefunction(behaviour) else guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
