"""Keyless CI: `[server.trust.NAME]` trusts a CI issuer (GitHub Actions, GitLab, ...), whose
ID tokens are traded for profiles by claim rules (`tvmcli.config.claim_rules`).

A token is routed by its (unverified) `iss` to the one table trusting that issuer, then
verified exactly as a sign-in token is (`TokenVerifier`: JWKS signature with public-key
algorithms, `aud`, `exp`, `nbf`, `iat`, leeway) and must carry a `sub`. The caller may use
the union of the profiles of every rule whose claims all match; each profile's token id and
rule index come from the first such rule that grants it. No rule: 403, naming no rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from tvmcli.config.access import Access
from tvmcli.config.claim_rules import fit_token_id, render, rule_matches
from tvmcli.config.settings import ServerSettings, TrustSettings
from tvmcli.server.auth import Authenticator, Principal
from tvmcli.server.oidc import JwksCache, JwtAuth, TokenVerifier

_log = logging.getLogger("tvmcli.server")


@dataclass(frozen=True)
class Grant:
    """How a CI token may have one profile: through rule `rule` (its index in the trust's
    rules, counting from 0), with this token id."""

    rule: int
    token_id: str


@dataclass(frozen=True)
class TrustPrincipal(Principal):
    """A pipeline, as a trust's rules see it: `name` is the token's `sub`, `issuer` its `iss`."""

    trust: str = ""
    grants: Mapping[str, Grant] = field(default_factory=dict)

    def identity_for(self, profile: str) -> str | None:
        grant = self.grants.get(profile)
        return grant.token_id if grant is not None else None

    def audit(self, profile: str | None) -> tuple[tuple[str, str], ...]:
        """After principal= (the `sub`): the trust, the rule that grants `profile` and the
        issuer."""
        grant = self.grants.get(profile) if profile is not None else None
        return (
            ("trust", self.trust),
            ("rule", str(grant.rule) if grant is not None else "-"),
            ("iss", self.issuer or "-"),
        )


class TrustAuth(TokenVerifier):
    """One [server.trust.NAME]: verify, then match the rules."""

    WHAT = "CI identity token"
    REQUIRED = (*TokenVerifier.REQUIRED, "sub")

    def __init__(self, settings: TrustSettings, jwks: JwksCache | None = None) -> None:
        super().__init__(settings, jwks)
        self.settings = settings

    def principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise self.refuse("invalid_token")
        trust = self.settings
        grants: dict[str, Grant] = {}
        for index, rule in enumerate(trust.rules):
            if not rule_matches(rule.claims, claims):
                continue
            token_id = render(rule.token_id, claims) if rule.token_id is not None else subject
            if token_id is None:  # a provider left out a claim it documents as always sent
                _log.warning(
                    "trust %s rules[%d]: the token lacks a claim its token_id names; rule skipped",
                    trust.name,
                    index,
                )
                continue
            for profile in rule.profiles:
                grants.setdefault(profile, Grant(index, fit_token_id(token_id)))
        return TrustPrincipal(
            name=subject,
            identity=None,
            issuer=trust.issuer,
            access=Access(tuple(grants), next(iter(grants)) if len(grants) == 1 else None),
            trust=trust.name,
            grants=grants,
        )


class IssuerRouter(Authenticator):
    """auth = "jwt" with CI trusts: each token goes to the verifier of its issuer. Which one is
    read from the unverified `iss`; that verifier then checks everything, `iss` included."""

    def __init__(self, verifiers: Mapping[str, TokenVerifier]) -> None:
        self._verifiers = dict(verifiers)
        self._any = next(iter(self._verifiers.values()))

    async def authenticate(self, authorization: str | None) -> Principal:
        token = self._any.bearer(authorization)
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
            raise self._any.refuse("invalid_token") from None
        verifier = self._verifiers.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise self._any.refuse("wrong_issuer")
        return verifier.principal(await verifier.verified(token))  # the header parsed once


def jwt_authenticator(settings: ServerSettings) -> Authenticator:
    """auth = "jwt": [server.jwt] alone as before, else a router over it and the trusts."""
    sign_in = JwtAuth(settings.jwt) if settings.jwt is not None else None
    if not settings.trusts:
        assert sign_in is not None  # the settings refuse jwt with neither table
        return sign_in
    verifiers: dict[str, TokenVerifier] = {t.issuer: TrustAuth(t) for t in settings.trusts}
    if sign_in is not None:
        verifiers[sign_in.settings.issuer] = sign_in
    return IssuerRouter(verifiers)
