"""What a credential may do, read offline, for `momento-tvm can`.

- A disposable token the emulator minted carries its exact grant in claim `p`, the protobuf
  JSON of its `permission_messages.Permissions` message: that message.
- The emulator's API key (a v2 key, `"t": "g"`, issued by the emulator) may do everything: a
  super-user Permissions message, as the emulator's cache and topic services treat it.
- Anything else, notably a token minted by Momento itself (its claim names are not public):
  `GrantUnreadableError` (exit 2), which suggests naming the profile that minted it.

Nothing here verifies a signature: `can` simulates, it does not authenticate.
"""

from __future__ import annotations

from typing import Any

from momento_wire_types import permissionmessages_pb2 as pb

from tvmcli.credentials.decoding import Credential
from tvmcli.errors import UsageError


class GrantUnreadableError(UsageError):
    """The credential is a key or token, but what it may do cannot be read offline (exit 2)."""


def grant_of(credential: Credential) -> pb.Permissions:
    """The Permissions the credential carries (super user for the emulator's API key)."""
    claims = credential.claims
    if "p" in claims:
        permissions = _parse_grant(claims["p"])
        if permissions is None:
            raise GrantUnreadableError(
                f"this {credential.kind.label} has a grant (claim 'p') that is not a "
                "Permissions message, so what it may do cannot be read offline",
                hint=_NAME_THE_PROFILE,
            )
        return permissions
    if credential.is_emulator_key:
        return pb.Permissions(super_user=pb.SuperUser)
    raise GrantUnreadableError(
        f"this {credential.kind.label} does not say what it may do offline (tokens and keys "
        "minted by Momento itself do not publish their grant; the emulator's do)",
        hint=_NAME_THE_PROFILE,
    )


_NAME_THE_PROFILE = (
    "Name the profile that minted it instead: momento-tvm can PROFILE ACTION CACHE NAME"
)


def _parse_grant(grant: Any) -> pb.Permissions | None:
    from google.protobuf import json_format

    permissions = pb.Permissions()
    try:
        json_format.ParseDict(grant, permissions)
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    if permissions.WhichOneof("kind") is None:
        return None
    return permissions
