"""Who may use which profile: THE access decision.

`Access` is what one caller may use; `combine` joins a caller's grants (its user table and its
groups'); `choose_profile` picks the profile of one request from it. The vending server's
/token and /profiles, its start-up summary (`served`), the library's `Vendor` and the CI
trusts all decide through these, so no two of them can read a grant differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tvmcli.errors import ProfileChoiceError

P = TypeVar("P")


@dataclass(frozen=True)
class Access:
    """Profiles a caller may use (None: every profile) and the one used without ?profile=."""

    profiles: tuple[str, ...] | None = None
    default: str | None = None

    def allowed(self, names: Iterable[str]) -> tuple[str, ...]:
        """Which of `names` (the profiles that exist) this caller may use, in their order."""
        if self.profiles is None:
            return tuple(names)
        mine = set(self.profiles)
        return tuple(name for name in names if name in mine)


NOTHING = Access((), None)
EVERY = "*"  # profiles = ["*"]: every profile, written out; a missing `profiles` grants none


def combine(
    groups: Sequence[Access], own: Access | None = None, default: str | None = None
) -> Access:
    """What one caller may use: the union of its groups' profiles, narrowed by its own
    `profiles` (a user's table) when it has them; a caller in no group has only its own, and
    nothing grants by itself (no groups and no `profiles`: no profile). The default is the
    caller's own, else its groups' first, whichever of them it may use."""
    profiles: tuple[str, ...] | None
    if groups:
        profiles = _union([g.profiles for g in groups])
        if own is not None:
            profiles = _narrowed(profiles, own.profiles)
    elif own is not None:
        profiles = own.profiles
    else:
        profiles = ()
    candidates = [default, *(g.default for g in groups)]
    chosen = next(
        (d for d in candidates if d and (profiles is None or d in profiles)),
        None,
    )
    return Access(profiles, chosen)


def _union(lists: Sequence[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    if any(names is None for names in lists):
        return None
    return tuple(dict.fromkeys(p for names in lists for p in names or ()))


def _narrowed(
    profiles: tuple[str, ...] | None, own: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    if own is None:
        return profiles
    if profiles is None:
        return own
    return tuple(p for p in own if p in profiles)


def choose_profile(access: Access, profiles: Mapping[str, P], asked: str | None) -> P:
    """The profile one request gets: `asked` (?profile=), else the caller's default, else the
    only profile it may use. `ProfileChoiceError` says why not (`code`): no_profiles,
    profile_required or profile_not_allowed; the last is the same whether the profile exists
    or not, so a caller learns only from its own list which profiles exist."""
    allowed = access.allowed(profiles)
    if not allowed:
        raise ProfileChoiceError("no_profiles", asked)
    name = asked or access.default or (allowed[0] if len(allowed) == 1 else None)
    if name is None:
        raise ProfileChoiceError("profile_required")
    if name not in allowed or name not in profiles:
        raise ProfileChoiceError("profile_not_allowed", name)
    return profiles[name]


def served(accesses: Iterable[Access], names: Sequence[str]) -> list[str]:
    """The profiles (of `names`, in order) that at least one of `accesses` may use."""
    usable: set[str] = set()
    for access in accesses:
        usable.update(access.allowed(names))
    return [name for name in names if name in usable]
