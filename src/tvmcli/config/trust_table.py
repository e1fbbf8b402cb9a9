"""[server.jwt] (sign-in tokens) and [server.trust.NAME] (CI identity tokens) -> JwtSettings
and TrustSettings: how each is verified (issuer, audience, keys, algorithms, leeway) and,
for a CI issuer, its claim rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvmcli.config.settings import (
    CI_PROVIDERS,
    JWT_ALGORITHMS,
    JWT_DEFAULTS,
    JWT_KEYS,
    RULE_KEYS,
    TRUST_KEYS,
    JwtSettings,
    TrustRule,
    TrustSettings,
    Verification,
)
from tvmcli.config.table_reader import (
    TableReader,
)
from tvmcli.system.durations import parse_duration
from tvmcli.system.netaddr import http_url_problem


def _verifying(
    reader: TableReader, raw: dict[str, Any], where: str, audience_hint: str, discovery: bool
) -> Verification | None:
    """Issuer, audience, key source, algorithms and leeway of one table, or None (and the
    problems). With `discovery`, no key source means OIDC discovery at the issuer."""
    before = len(reader.problems.items)
    issuer = _text(reader, raw, where, "issuer", required=True)
    audience = _audience(reader, raw, where, audience_hint)
    jwks_url, jwks_file = _key_source(reader, raw, where, issuer, discovery)
    algorithms = _algorithms(reader, raw, where)
    leeway = _leeway(reader, raw, where)
    if len(reader.problems.items) != before or issuer is None:
        return None
    return Verification(
        issuer, audience, jwks_url, Path(jwks_file) if jwks_file else None, algorithms, leeway
    )


def _shared(verifying: Verification) -> dict[str, Any]:
    """A Verification's fields by name, for the settings built on it (not asdict: no copies)."""
    return {f.name: getattr(verifying, f.name) for f in dataclasses.fields(Verification)}


def _text(
    reader: TableReader, raw: dict[str, Any], where: str, key: str, *, required: bool = False
) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            reader.problem(where, f"needs {key!r}")
        return None
    if not isinstance(value, str) or not value:
        reader.problem(f"{where}.{key}", "must be a non-empty string")
        return None
    return value


def _audience(
    reader: TableReader, raw: dict[str, Any], where: str, audience_hint: str
) -> tuple[str, ...]:
    value = raw.get("audience")
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(a, str) and a for a in value):
        return tuple(value)
    reader.problem(f"{where}.audience", f"{audience_hint} (a string or a list)")
    return ()


def _key_source(
    reader: TableReader, raw: dict[str, Any], where: str, issuer: str | None, discovery: bool
) -> tuple[str | None, str | None]:
    """jwks_url or jwks_file (one of them, or neither with OIDC discovery at the issuer)."""
    jwks_url, jwks_file = (
        _text(reader, raw, where, "jwks_url"),
        _text(reader, raw, where, "jwks_file"),
    )
    if jwks_url is not None and jwks_file is not None:
        reader.problem(where, "needs one of jwks_url or jwks_file, not both")
    elif jwks_url is None and jwks_file is None and not discovery:
        reader.problem(where, "needs exactly one of jwks_url or jwks_file")
    elif jwks_url is None and jwks_file is None and issuer is not None:
        problem = http_url_problem(issuer)
        if problem is not None:
            reader.problem(
                f"{where}.issuer",
                f"{problem}: its keys are found by OIDC discovery there "
                "(or set jwks_url or jwks_file)",
            )
    url_problem = http_url_problem(jwks_url) if jwks_url is not None else None
    if url_problem is not None:
        reader.problem(f"{where}.jwks_url", url_problem)
    return jwks_url, jwks_file


def _algorithms(reader: TableReader, raw: dict[str, Any], where: str) -> tuple[str, ...]:
    algorithms = raw.get("algorithms", list(JWT_DEFAULTS.algorithms))
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(isinstance(a, str) and a in JWT_ALGORITHMS for a in algorithms)
    ):
        reader.problem(
            f"{where}.algorithms",
            "must list algorithms among " + ", ".join(JWT_ALGORITHMS) + " (never none, never HS*)",
        )
        return ()
    return tuple(algorithms)


def _leeway(reader: TableReader, raw: dict[str, Any], where: str) -> int:
    leeway = raw.get("leeway", JWT_DEFAULTS.leeway)
    if isinstance(leeway, str):
        try:
            leeway = parse_duration(leeway)
        except ValueError:
            leeway = -1
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= 600:
        reader.problem(f"{where}.leeway", "must be 0 to 600 seconds")
        return 0
    return int(leeway)


def _jwt_settings(reader: TableReader, raw: dict[str, Any]) -> JwtSettings | None:
    reader.unknown(".jwt", raw, JWT_KEYS)
    verifying = _verifying(
        reader,
        raw,
        ".jwt",
        "needs the client id or API identifier",
        discovery=False,
    )
    names = {}
    for key in ("groups_claim", "token_id_claim"):
        value = raw.get(key, getattr(JWT_DEFAULTS, key))
        if not isinstance(value, str) or not value:
            reader.problem(f".jwt.{key}", "must be a non-empty string")
            value = getattr(JWT_DEFAULTS, key)
        names[key] = value
    if verifying is None:
        return None
    return JwtSettings(**_shared(verifying), **names)


def read_oidc(
    reader: TableReader, raw: Mapping[str, Any], auth: str
) -> tuple[JwtSettings | None, tuple[TrustSettings, ...]]:
    """[server.jwt] (sign-in) and [server.trust.NAME] (CI issuers): read with auth = "jwt",
    which needs at least one of them; each issuer is trusted by one table only."""
    if auth != "jwt":
        for table in ("jwt", "trust"):
            if table in raw:
                reader.problem(f".{table}", 'is only read with auth = "jwt"')
        return None, ()
    if "jwt" not in raw and "trust" not in raw:
        reader.problem(
            ".auth",
            'auth = "jwt" needs [server.jwt] (sign-in tokens) or [server.trust.NAME] '
            "(CI identity tokens)",
        )
        return None, ()
    trusts = _trusts(reader, raw)
    jwt = _jwt_settings(reader, reader.table(raw["jwt"], ".jwt")) if "jwt" in raw else None
    issuers = [trust.issuer for trust in trusts] + ([jwt.issuer] if jwt else [])
    for issuer in sorted({i for i in issuers if issuers.count(i) > 1}):
        reader.problem(
            ".trust",
            f"issuer {issuer!r} is trusted by more than one table; tokens are routed "
            "to one by their iss: put its rules in one [server.trust.NAME]",
        )
    return jwt, trusts


def _trusts(reader: TableReader, raw: Mapping[str, Any]) -> tuple[TrustSettings, ...]:
    trusts = []
    for name, body in reader.table(raw.get("trust"), ".trust").items():
        where = f".trust.{name}"
        body = reader.table(body, where)
        reader.unknown(where, body, TRUST_KEYS)
        verifying = _verifying(
            reader,
            body,
            where,
            'needs the audience your pipelines ask for, e.g. "momento-tvm"',
            discovery=True,
        )
        issuer = verifying.issuer if verifying is not None else str(body.get("issuer", ""))
        provider = _provider(reader, body, where, issuer)
        rules = body.get("rules")
        if not isinstance(rules, list) or not rules:
            reader.problem(where, f"needs rules: [[server.trust.{name}.rules]] tables")
            rules = []
        parsed = tuple(
            rule
            for index, table in enumerate(rules)
            if (rule := _trust_rule(reader, table, f"{where}.rules[{index}]", issuer, provider))
        )
        if verifying is not None and len(parsed) == len(rules):
            trusts.append(
                TrustSettings(name=name, **_shared(verifying), provider=provider, rules=parsed)
            )
    return tuple(trusts)


def _provider(reader: TableReader, raw: Mapping[str, Any], where: str, issuer: str) -> str | None:
    """The trust's CI provider: implied by GitHub Actions' and gitlab.com's issuers, named with
    `provider =` for GitHub Enterprise Server or self-managed GitLab."""
    from tvmcli.config.claim_rules import provider_of

    implied = provider_of(issuer)
    named = raw.get("provider")
    if named is None:
        return implied
    if not isinstance(named, str) or named not in CI_PROVIDERS:
        reader.problem(f"{where}.provider", f"must be one of {', '.join(CI_PROVIDERS)}")
        return implied
    if implied is not None and named != implied:
        reader.problem(f"{where}.provider", f"{issuer} is {implied}'s issuer, not {named}'s")
        return implied
    return named


def _trust_rule(
    reader: TableReader, raw: Any, where: str, issuer: str, provider: str | None
) -> TrustRule | None:
    if not isinstance(raw, dict):
        reader.problem(where, "must be a table")
        return None
    reader.unknown(where, raw, RULE_KEYS)
    count = len(reader.problems.items)
    patterns = _rule_claims(reader, raw, where, issuer, provider)
    profiles = raw.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        reader.problem(f"{where}.profiles", "needs the profiles this rule grants")
    else:
        reader.profile_list({"profiles": profiles}, where, every=False)
    template = reader.typed(raw, "token_id", str, where)
    if template is not None:
        _check_token_id_template(reader, template, where, patterns, provider)
    if len(reader.problems.items) > count:
        return None
    return TrustRule(tuple(patterns), tuple(profiles or ()), template)


def _rule_claims(
    reader: TableReader, raw: dict[str, Any], where: str, issuer: str, provider: str | None
) -> list[tuple[str, str]]:
    """A rule's claims as (claim, pattern) pairs; a rule must bind the issuer's tokens enough."""
    from tvmcli.config import claim_rules

    claims = raw.get("claims")
    patterns: list[tuple[str, str]] = []
    if not isinstance(claims, dict) or not claims:
        reader.problem(
            f"{where}.claims",
            'needs claims to match, e.g. { repository = "acme/web" }: a rule with none '
            "would trust every token of the issuer",
        )
        return patterns
    for claim, pattern in claims.items():
        if isinstance(pattern, bool):
            pattern = "true" if pattern else "false"
        elif isinstance(pattern, int):
            pattern = str(pattern)
        if not isinstance(pattern, str) or not pattern:
            reader.problem(f"{where}.claims.{claim}", "must be a non-empty string (or a number)")
            continue
        patterns.append((claim, pattern))
    problem = claim_rules.binding_problem(provider, issuer, patterns)
    if problem is not None and len(patterns) == len(claims):
        reader.problem(f"{where}.claims", problem)
    return patterns


def _check_token_id_template(
    reader: TableReader,
    template: str,
    where: str,
    patterns: list[tuple[str, str]],
    provider: str | None,
) -> None:
    """A token id template may name only claims every matching token carries."""
    from tvmcli.config import claim_rules

    try:
        named = claim_rules.template_claims(template)
    except ValueError as exc:
        reader.problem(f"{where}.token_id", str(exc))
        return
    present = claim_rules.always_present(provider, (c for c, _ in patterns))
    for claim in named:
        if claim not in present:
            reader.problem(
                f"{where}.token_id",
                f"names {{{claim}}}, which a token matching this rule may lack: name "
                "sub, a claim this rule matches"
                + (
                    f", or one {claim_rules.PROVIDER_NAMES[provider]} puts in every token"
                    if provider
                    else ""
                ),
            )
