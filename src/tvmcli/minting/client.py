"""The token-service client: one deadline per mint, retries inside it, errors mapped to ours.

The SDK's AuthClient sends no deadline, never retries and turns client-side failures into
UNKNOWN_ERROR, so this talks gRPC directly with the SDK's own wire types.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
import grpc.aio
from momento_wire_types import token_pb2, token_pb2_grpc

from tvmcli.credentials.decoding import Kind, make_envelope, mask
from tvmcli.credentials.sources import DEFAULT_TIMEOUT, ApiKey, Target
from tvmcli.errors import (
    AuthError,
    MintTimeoutError,
    MomentoError,
    MomentoRejectedError,
    TvmError,
    UnavailableError,
    UndecodableAnswerError,
)
from tvmcli.minting.tokens import Token
from tvmcli.permissions.scopes import build_permissions
from tvmcli.permissions.statements import ACCOUNT_WINDOW_SECONDS, Statement
from tvmcli.version import __version__

AGENT = ("agent", f"momento-tvm:{__version__}")  # gRPC metadata on every call we make


def open_channel(target: Target) -> grpc.aio.Channel:
    """A channel to a Momento service (TLS unless the target is a plaintext loopback one), in
    the running event loop; the token and the cache clients both open theirs here."""
    if target.secure:
        return grpc.aio.secure_channel(target.address, grpc.ssl_channel_credentials())
    return grpc.aio.insecure_channel(target.address)


RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
# Statuses that say "the service or the path to it failed", not "no": answered like
# UNAVAILABLE (exit 5, HTTP 503, worth retrying later), though not retried within a mint.
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.CANCELLED,
    }
)


Admit = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n)).
    After RESOURCE_EXHAUSTED at least `throttled`: Momento counts mints per second, so
    retrying sooner only meets the same full window (and spends budget on a refusal)."""

    base: float = 0.1
    cap: float = 2.0
    throttled: float = ACCOUNT_WINDOW_SECONDS + 0.05

    def backoff(self, attempt: int, rng: Callable[[], float], *, throttled: bool = False) -> float:
        jittered = rng() * min(self.cap, self.base * 2.0**attempt)
        return max(jittered, self.throttled) if throttled else jittered


class Minter:
    """Mints tokens with one API key over one channel. Use as an async context manager."""

    def __init__(
        self,
        api_key: ApiKey,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: Callable[[int, str], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self._on_retry = on_retry  # (retry number, status name): for a person watching
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._target = api_key.target
        self._channel: grpc.aio.Channel | None = None
        self._stub: token_pb2_grpc.TokenStub | None = None
        self._metadata = (("authorization", api_key.secret), AGENT)

    async def __aenter__(self) -> Minter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Whether a channel is open (it opens on the first mint, closes with `close`)."""
        return self._channel is not None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=None)
            self._channel = self._stub = None

    def _connect(self) -> token_pb2_grpc.TokenStub:
        """The channel opens on first use, inside the event loop that will use it (a server
        builds its Minter before its loop runs)."""
        if self._stub is None:
            self._channel = open_channel(self._target)
            self._stub = token_pb2_grpc.TokenStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def mint(
        self,
        statements: Sequence[Statement],
        expires_in: int,
        token_id: str | None = None,
        *,
        profile: str | None = None,
        admit: Admit | None = None,
    ) -> Token:
        """One token. `admit`, when given, is awaited before every call to the token service,
        the first and each retry, so every call takes budget from the caller's limiter; it may
        wait, or raise (MintLimitError), which ends the mint with that error. The deadline
        (`timeout`) starts once the first call is admitted and bounds the retries' waits."""
        request = token_pb2._GenerateDisposableTokenRequest(
            expires=token_pb2._GenerateDisposableTokenRequest.Expires(valid_for_seconds=expires_in),
            auth_token=self.api_key.secret,
            permissions=build_permissions(statements),
            token_id=token_id or "",
        )
        response = await self._call_with_retries(request, admit)
        return replace(self._minted(response, token_id), profile=profile)

    async def _call_with_retries(
        self, request: token_pb2._GenerateDisposableTokenRequest, admit: Admit | None
    ) -> token_pb2._GenerateDisposableTokenResponse:
        started = time.monotonic()
        queued = 0.0
        if admit is not None:
            # Connect before taking budget: a call admitted while its channel still connects
            # reaches Momento late, in the same second as the next batch, which is refused.
            await self._ready(started + self.timeout)
            before = time.monotonic()
            await admit()  # the first call waits as long as the limiter's own queue allows
            queued = time.monotonic() - before
        deadline = started + queued + self.timeout
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                response: (
                    token_pb2._GenerateDisposableTokenResponse | None
                ) = await self._connect().GenerateDisposableToken(
                    request, timeout=max(remaining, 0.001), metadata=self._metadata
                )
                if not isinstance(response, token_pb2._GenerateDisposableTokenResponse):
                    # grpc hands back None for bytes that do not parse as the answer
                    raise UndecodableAnswerError(
                        f"{self._target.endpoint} answered something that is not a token "
                        "(bytes that are no token-service answer)",
                        hint="Is the endpoint a Momento token service?",
                    )
                return response
            except grpc.aio.AioRpcError as error:
                code = error.code()
                throttled = code is grpc.StatusCode.RESOURCE_EXHAUSTED
                wait = self.retry.backoff(attempt, self._rng, throttled=throttled)
                attempt += 1
                if code not in RETRYABLE or time.monotonic() + wait >= deadline:
                    raise self._translate(error, attempt) from None
                last_error = error
            if self._on_retry is not None:
                self._on_retry(attempt, last_error.code().name)
            await self._sleep(wait)
            if admit is not None:
                try:
                    await asyncio.wait_for(admit(), deadline - time.monotonic())
                except asyncio.TimeoutError:  # no budget before the deadline: the last answer
                    raise self._translate(last_error, attempt) from None

    async def _ready(self, deadline: float) -> None:
        """Wait (until `deadline` at most) for the channel to connect; a channel that cannot
        connect is left to the call, which reports why."""
        self._connect()
        assert self._channel is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                self._channel.channel_ready(), max(0.001, deadline - time.monotonic())
            )

    def _translate(self, error: grpc.aio.AioRpcError, attempts: int) -> TvmError:
        code = error.code()
        details = _scrub(error.details() or "", self.api_key.secret)
        key = f"the key from {self.api_key.source}"
        where = self._target.endpoint
        if self._target.address != where:
            where += f" ({self._target.address})"
        status = code.name if code is not None else "UNKNOWN"
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return AuthError(
                f"Momento did not accept {key}: {details or status}",
                hint="The key may be expired, revoked, or for another endpoint.",
            )
        if code is grpc.StatusCode.PERMISSION_DENIED:
            hint = "Use a key that may mint tokens (a super-user API key)."
            if self.api_key.kind is Kind.DISPOSABLE_TOKEN:
                hint = "That is a disposable token; tokens cannot mint tokens. Use an API key."
            return AuthError(f"Momento refused to mint with {key}: {details or status}", hint=hint)
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            return MomentoRejectedError(f"Momento rejected the request: {details or status}")
        tries = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return MintTimeoutError(
                f"no answer from {where} within {self.timeout:g}s ({tries}; last status {status})",
                hint="Check the endpoint and network, or raise --timeout.",
            )
        if code in RETRYABLE or code in TRANSIENT or code is None:
            return UnavailableError(
                f"could not mint from {where}: {status} {tries}"
                + (f" ({details})" if details else ""),
                hint="Momento allows 5 mints per second per account."
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED
                else "Is the endpoint right and the service up?",
            )
        # NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, ...:
        # a refusal this tool has no mapping for. Every status ends as one of our errors.
        return MomentoError(
            f"unexpected answer from {where}: {status} {details}".rstrip(),
            hint="Is the endpoint a Momento token service?",
        )

    def _minted(
        self, response: token_pb2._GenerateDisposableTokenResponse, token_id: str | None
    ) -> Token:
        if not response.api_key or not response.valid_until:
            raise MomentoError(
                f"{self._target.endpoint} answered without a token or expiry; "
                "is it a Momento token service?"
            )
        endpoint = response.endpoint or self.api_key.endpoint
        return Token(
            auth_token=make_envelope(endpoint, response.api_key),
            endpoint=endpoint,
            expires_at=int(response.valid_until),
            token_id=token_id,
        )


def _scrub(text: str, secret: str) -> str:
    """Server messages are shown to users; make sure none echoes the key back."""
    if secret and secret in text:
        text = text.replace(secret, mask(secret))
    return text[:300]
