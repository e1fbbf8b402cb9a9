"""Who is calling: open, bearer and basic authentication, and what each caller may use.

An authenticator turns request headers into a Principal or raises Unauthorized. Secrets are
compared in constant time and never logged; basic auth does the same scrypt work for every
user name, known or not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from tvmcli.config.access import Access, combine
from tvmcli.config.passwords import hash_password, same_secret, verify_password
from tvmcli.config.settings import ServerSettings, user_access
from tvmcli.errors import ConfigError
from tvmcli.system import text_files


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `identity` becomes the token id (None for shared secrets);
    `access`, when the authenticator decides it (a CI trust's rules), replaces the groups'."""

    name: str
    identity: str | None
    groups: tuple[str, ...] = ()
    issuer: str | None = None  # for a JWT: who signed it (the audit trail names it)
    access: Access | None = None

    def identity_for(self, profile: str) -> str | None:
        """The token id of this caller's tokens of `profile`."""
        return self.identity

    def audit(self, profile: str | None) -> tuple[tuple[str, str], ...]:
        """More fields for the access-log line of a request for `profile` (never a secret)."""
        return ()


class Unauthorized(Exception):
    def __init__(self, code: str, message: str, challenge: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.challenge = challenge


class Authenticator:
    async def authenticate(self, authorization: str | None) -> Principal:
        raise NotImplementedError

    def at_once(self, authorization: str | None) -> Principal | None:
        """The caller, when it can be told without waiting (raising Unauthorized as
        `authenticate` does); None when only `authenticate` can tell. Every request asks this
        first: a coroutine per check costs a cached /token a few per cent."""
        return None


_ANONYMOUS = Principal("anonymous", None)
_BEARER = Principal("bearer", None)


class OpenAuth(Authenticator):
    async def authenticate(self, authorization: str | None) -> Principal:
        return _ANONYMOUS

    def at_once(self, authorization: str | None) -> Principal | None:
        return _ANONYMOUS


class BearerAuth(Authenticator):
    def __init__(self, tokens: list[str]) -> None:
        if not tokens:
            raise ConfigError('auth = "bearer" has no tokens')
        self._tokens = tokens

    async def authenticate(self, authorization: str | None) -> Principal:
        return self.at_once(authorization)

    def at_once(self, authorization: str | None) -> Principal:
        challenge = 'Bearer realm="momento-tvm"'
        if not authorization:
            raise Unauthorized(
                "missing_credentials", "send Authorization: Bearer <token>", challenge
            )
        scheme, _, given = authorization.partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            raise Unauthorized("bad_credentials", "expected a Bearer token", challenge)
        # Compare against every token, so the time taken says nothing about which matched.
        matched = False
        for token in self._tokens:
            matched |= same_secret(given, token)
        if not matched:
            raise Unauthorized("bad_credentials", "the bearer token is not valid", challenge)
        return _BEARER


class BasicAuth(Authenticator):
    """Users with scrypt hashes (or a password from the environment, hashed at start-up).

    Every well-formed attempt costs one scrypt run, whether the user exists or not (an unknown
    name is checked against a decoy hash), so the time of an answer does not say which user
    names exist. `scrypt_runs` counts them. Recent successes are remembered for a minute (by a
    digest, not the password), which only the right password can reach.
    """

    _CACHE_SECONDS = 60.0

    def __init__(self, settings: ServerSettings, env: Mapping[str, str]) -> None:
        self._users = settings.users
        self._hashes: dict[str, str] = {}
        for user in settings.users.values():
            if user.password_env is not None:
                value = env.get(user.password_env)
                if not value:
                    # Never the variable's name: a user may have put the password there.
                    raise ConfigError(
                        f"[server.users.{user.name}] password_env names an environment "
                        "variable that is not set"
                    )
                self._hashes[user.name] = hash_password(value)  # checked like any other
            else:
                self._hashes[user.name] = user.password_hash or ""
        self._decoy = hash_password(secrets.token_urlsafe(16))  # for names that are no user
        self.scrypt_runs = 0
        # scrypt takes ~50 ms by design; remember recent successes (by digest, not password).
        self._verified: OrderedDict[bytes, float] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        challenge = 'Basic realm="momento-tvm", charset="UTF-8"'
        if not authorization:
            raise Unauthorized("missing_credentials", "send Authorization: Basic", challenge)
        scheme, _, encoded = authorization.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise Unauthorized("bad_credentials", "expected Basic credentials", challenge) from None
        name, sep, password = decoded.partition(":")
        ok = await self._check(name, password)  # the same work with or without a colon
        user = self._users.get(name)
        if not sep or user is None or not ok:
            raise Unauthorized("bad_credentials", "wrong user name or password", challenge)
        return Principal(name, name, user.groups)

    async def _check(self, name: str, password: str) -> bool:
        digest = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        now = time.monotonic()
        seen = self._verified.get(digest)
        if seen is not None and now - seen < self._CACHE_SECONDS:
            return True
        known = name in self._hashes
        self.scrypt_runs += 1
        # scrypt is slow by design: off the event loop
        ok = await asyncio.to_thread(
            verify_password, password, self._hashes[name] if known else self._decoy
        )
        if ok and known:
            self._verified[digest] = now
            while len(self._verified) > 1000:
                self._verified.popitem(last=False)
        return ok and known


def bearer_tokens(settings: ServerSettings, env: Mapping[str, str]) -> list[str]:
    tokens: list[str] = []
    if settings.bearer_tokens_env:
        value = env.get(settings.bearer_tokens_env)
        if not value:
            # Never the variable's name: a user may have put the token itself there.
            raise ConfigError(
                "[server.bearer] tokens_env names an environment variable that is not set"
            )
        tokens += [t.strip() for t in value.split(",") if t.strip()]
    if settings.bearer_tokens_file:
        text = text_files.read_text(
            str(settings.bearer_tokens_file), what="[server.bearer] tokens_file", error=ConfigError
        )
        tokens += [t.strip() for t in text.splitlines() if t.strip() and not t.startswith("#")]
    if any(len(t) < 16 for t in tokens):
        raise ConfigError("[server.bearer]: every token must be at least 16 characters")
    return tokens


def access_for(principal: Principal, settings: ServerSettings) -> Access:
    """Profiles this caller may use (None means all): a CI trust's rules decide for its
    tokens; open and bearer callers get [server] profiles; a basic-auth user its groups'
    profiles, narrowed by its own (`settings.user_access`); a JWT caller its groups'."""
    if principal.access is not None:
        return principal.access
    if settings.auth not in ("basic", "jwt"):
        return settings.access
    user = settings.users.get(principal.name) if settings.auth == "basic" else None
    if user is not None:
        return user_access(user, settings.groups)
    return combine([settings.groups[g] for g in principal.groups if g in settings.groups])
