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


def combine(grants: Sequence[Access]) -> Access:
    """One caller's grants (its own table first, then its groups') joined: the union of their
    profiles and the first default any of them names."""
    if not grants:
        return NOTHING
    profiles: tuple[str, ...] | None
    if any(g.profiles is None for g in grants):
        profiles = None
    else:
        profiles = tuple(dict.fromkeys(p for g in grants for p in g.profiles or ()))
    default = next((g.default for g in grants if g.default), None)
    return Access(profiles, default)


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
