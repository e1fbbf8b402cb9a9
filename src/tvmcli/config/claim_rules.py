"""Claim rules of `[server.trust.NAME]`: which CI identity tokens may have which profiles, and
the token id they get. Pure and stdlib-only: the settings use it to refuse unsafe rules at load
time, the server to match verified claims.

- A rule's pattern matches a claim when they are equal as strings, or with `*` as a glob within
  the value (any run of characters, `/` included). Claims are compared as strings: GitHub sends
  ids as strings, GitLab sends `ref_protected` as "true" and some ids as numbers, so a number
  is its decimal text and a boolean is "true" or "false". Lists and objects match nothing.
- A trust's provider ("github" or "gitlab") says which claims its tokens carry. GitHub Actions'
  issuer and gitlab.com's imply theirs; GitHub Enterprise Server and self-managed GitLab name
  it with `provider =`.
- On a provider's issuer a rule must pin the owner with one of the BINDING claims, or it would
  trust every repository there. `repository = "*"` or `repository = "acme*"` (which matches
  `acme-evil/web`) pins nothing; `acme/*` does.
- A token id template names claims in braces, `{repository}#{run_id}`. Only claims that are
  always there may be named (`always_present`), so a template cannot fail for some tokens.
- A token id longer than Momento's 64 bytes keeps its start and ends in `~` and 20 characters
  of its SHA-256 (`fit_token_id`): still recognisable, and distinct for distinct subjects.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping

from tvmcli.permissions.statements import MAX_TOKEN_ID_LENGTH

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_COM_ISSUER = "https://gitlab.com"

PROVIDER_NAMES = {"github": "GitHub Actions", "gitlab": "gitlab.com"}
# Claims that pin a rule to one owner's repositories (projects), by provider.
BINDING = {
    "github": ("repository", "repository_id", "repository_owner", "repository_owner_id", "sub"),
    "gitlab": ("project_path", "project_id", "namespace_path", "namespace_id", "sub"),
}
# Claims the provider documents in every ID token, whatever the event (GitHub's `environment`
# only comes with an environment; `head_ref` and `base_ref` are empty outside pull requests).
_ALWAYS = {
    "github": (
        "repository",
        "repository_id",
        "repository_owner",
        "repository_owner_id",
        "repository_visibility",
        "ref",
        "ref_type",
        "sha",
        "event_name",
        "workflow",
        "workflow_ref",
        "job_workflow_ref",
        "run_id",
        "run_number",
        "run_attempt",
        "actor",
        "actor_id",
        "jti",
    ),
    "gitlab": (
        "project_id",
        "project_path",
        "namespace_id",
        "namespace_path",
        "pipeline_id",
        "pipeline_source",
        "job_id",
        "ref",
        "ref_type",
        "ref_path",
        "ref_protected",
        "runner_id",
        "sha",
        "user_id",
        "user_login",
        "jti",
    ),
}
# Every verified token has these (the verifier requires them).
VERIFIED = ("sub", "iss")
# Claims whose values are paths: a glob pins the owner when a `/` comes before its first `*`.
_PATHS = {"repository", "project_path", "namespace_path", "sub"}

_FIELD = re.compile(r"\{([^{}]*)\}")
_HASH_CHARS = 20  # base32 characters of SHA-256 kept in a shortened token id: 100 bits


def provider_of(issuer: str) -> str | None:
    """The provider an issuer implies: GitHub Actions' (and its per-enterprise issuers) is
    "github", gitlab.com's is "gitlab"; others imply none (they may name one)."""
    if issuer == GITHUB_ISSUER or issuer.startswith(GITHUB_ISSUER + "/"):
        return "github"
    if issuer.rstrip("/") == GITLAB_COM_ISSUER:
        return "gitlab"
    return None


def claim_text(value: object) -> str | None:
    """A claim's value as the string rules compare, or None for lists, objects and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def glob_match(pattern: str, value: str) -> bool:
    """`value` equals `pattern`, where each `*` stands for any run of characters. Linear in
    the value's length (no regular expression to backtrack)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return value == pattern
    first, *middle, last = parts
    end = len(value) - len(last)
    if end < len(first) or not value.startswith(first) or not value.endswith(last):
        return False
    position = len(first)
    for part in middle:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def rule_matches(patterns: Iterable[tuple[str, str]], claims: Mapping[str, object]) -> bool:
    """Every (claim, pattern) of a rule matches the token's claims."""
    for name, pattern in patterns:
        value = claim_text(claims.get(name))
        if value is None or not glob_match(pattern, value):
            return False
    return True


def pins_owner(claim: str, pattern: str) -> bool:
    """Whether `claim = pattern` pins one owner: exact, or a path glob with a `/` before its
    first `*` (`acme/*` yes; `*`, `acme*` and `repo:*` no)."""
    if "*" not in pattern:
        return bool(pattern)
    return claim in _PATHS and "/" in pattern.split("*", 1)[0]


def binding_problem(
    provider: str | None, issuer: str, patterns: Iterable[tuple[str, str]]
) -> str | None:
    """Why a rule of `provider`'s would trust strangers' pipelines, or None."""
    if provider is None:
        return None
    names = BINDING[provider]
    if any(name in names and pins_owner(name, pattern) for name, pattern in patterns):
        return None
    if provider_of(issuer) == "github":
        where = "every repository on GitHub"
    elif provider_of(issuer) == "gitlab":
        where = "every project on gitlab.com"
    else:
        where = "every repository this issuer signs for"
    return (
        f"binds none of {', '.join(names)} (exactly, or with * only after the owner's '/'): "
        f"it would trust {where}"
    )


def always_present(provider: str | None, bound: Iterable[str]) -> frozenset[str]:
    """Claims a token that matches a rule always has: the verified ones, the rule's own, and
    those its provider puts in every token."""
    return frozenset((*VERIFIED, *bound, *(_ALWAYS[provider] if provider else ())))


def template_claims(template: str) -> list[str]:
    """The claims a token id template names, in order; ValueError when it is malformed."""
    names = _FIELD.findall(template)
    rest = _FIELD.sub("", template)
    if "{" in rest or "}" in rest or any(not name.strip() for name in names):
        raise ValueError("braces must enclose a claim name, as in {run_id}")
    return names


def render(template: str, claims: Mapping[str, object]) -> str | None:
    """The template with each {claim} replaced by its text, or None when one is missing."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        text = claim_text(claims.get(match.group(1)))
        if text is None:
            missing = True
            return ""
        return text

    rendered = _FIELD.sub(value, template)
    return None if missing else rendered


def fit_token_id(text: str) -> str:
    """`text` when it fits Momento's 64 bytes; else its start, `~` and 20 base32 characters
    of its SHA-256, 64 bytes in all (cut on a character boundary)."""
    raw = text.encode("utf-8")
    if len(raw) <= MAX_TOKEN_ID_LENGTH:
        return text
    digest = base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii").lower()
    head = raw[: MAX_TOKEN_ID_LENGTH - _HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{head}~{digest[:_HASH_CHARS]}"
