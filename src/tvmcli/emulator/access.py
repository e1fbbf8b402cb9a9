"""Who may call the emulator's data plane (cache and topics): one gate for both services.

The credential comes in the `authorization` metadata (a bare JWT, or a v1 envelope around one).
Keys this emulator signed: an API key (claim "t": "g") holds super-user permissions; a
disposable token exactly its grant (claim `p`, the protobuf JSON of its Permissions). Anything
else, and an expired credential, is UNAUTHENTICATED. Every decision is `permits`'s, the one
evaluator (tvmcli.permissions.evaluator); a denial is PERMISSION_DENIED with Momento's wording
followed by the evaluator's reason.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from momento_wire_types import permissionmessages_pb2 as perm

from tvmcli.emulator.service import Refusal, verified_claims
from tvmcli.permissions.evaluator import Action, Decision, permits

SUPER_USER = perm.Permissions(super_user=perm.SuperUser)
_GRANTS_KEPT = 4096

# Momento's own wording; the SDKs show the code as PERMISSION_ERROR and (JS) this text.
DENIED_CACHE = "Insufficient permissions to perform an operation on a cache"
DENIED_TOPIC = "Insufficient permissions to perform an operation on a topic"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its grant and its token id ("" for an API key)."""

    grant: perm.Permissions
    token_id: str


class Gate:
    """Authenticates data-plane calls and decides them with `permits`."""

    def __init__(self, secret: bytes, wall: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._wall = wall
        self._lock = threading.Lock()
        # token -> its parsed grant: a JSON parse per call would cost more than the call
        self._grants: OrderedDict[str, perm.Permissions] = OrderedDict()

    def caller(self, metadata: dict[str, Any]) -> Caller:
        """The caller of a call with this metadata; Refusal(UNAUTHENTICATED) otherwise."""
        secret, claims = verified_claims(
            metadata.get("authorization"),
            self._secret,
            self._wall,
            "Invalid credential",
            "the credential has expired",
        )
        if "p" not in claims:
            if claims.get("t") != "g":
                raise Refusal(grpc.StatusCode.UNAUTHENTICATED, "Invalid credential")
            return Caller(SUPER_USER, "")
        token_id = claims.get("id")
        return Caller(
            self._grant(secret, claims["p"]), token_id if isinstance(token_id, str) else ""
        )

    def _grant(self, token: str, claim: Any) -> perm.Permissions:
        with self._lock:
            grant = self._grants.get(token)
            if grant is not None:
                self._grants.move_to_end(token)
                return grant
        grant = perm.Permissions()
        try:
            json_format.ParseDict(claim, grant)
        except (json_format.ParseError, TypeError, ValueError):
            grant = perm.Permissions()  # unreadable: grants nothing
        with self._lock:
            self._grants[token] = grant
            while len(self._grants) > _GRANTS_KEPT:
                self._grants.popitem(last=False)
        return grant

    @staticmethod
    def check(caller: Caller, action: Action, cache: str, name: str | bytes) -> Decision:
        """The evaluator's decision; Refusal(PERMISSION_DENIED) with Momento's wording and the
        reason when it denies."""
        decision = permits(caller.grant, action, cache, name)
        if not decision.allowed:
            wording = DENIED_CACHE if action.resource.value == "cache" else DENIED_TOPIC
            if action is Action.INVOKE:
                wording = "Insufficient permissions to perform an operation on a function"
            raise Refusal(grpc.StatusCode.PERMISSION_DENIED, f"{wording}: {decision.reason}")
        return decision
