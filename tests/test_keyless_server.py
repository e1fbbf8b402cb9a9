"""Keyless CI, the server side: [server.trust.NAME] trades CI identity tokens for profiles by
claim rules. GitHub Actions and GitLab are played locally (`tests/ci_providers.py`): real RSA
keys, a discovery document and a JWKS over loopback HTTP; the real server over HTTP minting
from the emulator over gRPC."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from tests.ci_providers import CI_PROFILES, GITHUB_ISSUER, Provider, github_claims, gitlab_claims
from tests.docs import page
from tests.serving import Running, serve
from tests.test_oidc import COGNITO_CLIENT, COGNITO_ISSUER, Key, cognito
from tvmcli.config.claim_rules import claim_text, fit_token_id, glob_match, render, rule_matches
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import parse_credential
from tvmcli.emulator import Emulator
from tvmcli.errors import ConfigError

PROFILES = (
    CI_PROFILES
    + """
[profiles.chat-reader]
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]
"""
)

# The issue's contract, with the GitHub issuer played on loopback (its keys by discovery).
GITHUB_RULES = """
[[server.trust.github.rules]]
claims = { repository = "acme/web", ref = "refs/heads/main" }
profiles = ["ci-deploy"]

[[server.trust.github.rules]]
claims = { repository_owner = "acme", event_name = "pull_request", repository = "acme/*" }
profiles = ["ci-readonly"]
token_id = "{repository}#{run_id}"
"""


def github_trust(provider: Provider) -> str:
    """GitHub played on loopback: its issuer is the provider's URL, so the trust names its
    provider (as for GitHub Enterprise Server) and GitHub's claim rules apply."""
    return (
        f'[server.trust.github]\nissuer = "{provider.issuer}"\naudience = "momento-tvm"\n'
        f'provider = "github"\n{GITHUB_RULES}'
    )


def server_toml(*tables: str) -> str:
    return '[server]\nauth = "jwt"\nclient_rate = 0\n' + "\n".join(tables)


@pytest.fixture
def github() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.close()


@contextlib.contextmanager
def keyless(emulator: Emulator, *tables: str) -> Iterator[Running]:
    with serve(emulator, server_toml(*tables), PROFILES) as server:
        yield server


def vend(server: Running, id_token: str, path: str = "/token", **params: str) -> httpx.Response:
    return httpx.get(
        server.url + path,
        params=params,
        headers={"Authorization": f"Bearer {id_token}"},
        timeout=10,
    )


def assert_403_naming_no_rule(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "no_profiles"
    for secret_of_the_rules in ("acme", "refs/", "repository", "ci-deploy", "[0]", "[1]"):
        assert secret_of_the_rules not in response.text


def test_the_allowed_repository_and_ref_get_the_deploy_profile_with_sub_as_token_id(
    emulator: Emulator, github: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    id_token = github.sign(github_claims())
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, id_token, profile="ci-deploy")
        listed = vend(server, id_token, path="/profiles").json()["profiles"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["profile"], body["tokenId"]) == ("ci-deploy", "repo:acme/web:ref:refs/heads/main")
    assert parse_credential(body["authToken"]).claims["id"] == "repo:acme/web:ref:refs/heads/main"
    assert [p["name"] for p in listed] == ["ci-deploy"]
    # Found by discovery: one discovery fetch, one JWKS fetch.
    assert github.fetches == {"/.well-known/openid-configuration": 1, "/.well-known/jwks": 1}
    [line] = [
        line
        for record in caplog.records
        if record.name == "tvmcli.server.access"
        for line in record.getMessage().split("\n")
        if "GET /token 200" in line
    ]
    assert "principal=repo:acme/web:ref:refs/heads/main profile=ci-deploy" in line
    assert line.endswith(f"trust=github rule=0 iss={github.issuer}")
    assert id_token not in caplog.text
    assert body["authToken"] not in caplog.text


def test_the_audit_trail_names_the_pipelines_sub_and_issuer(
    emulator: Emulator, github: Provider, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    id_token = github.sign(github_claims())
    with keyless(emulator, f'audit_log = "{audit}"\n' + github_trust(github)) as server:
        body = vend(server, id_token, profile="ci-deploy").json()
    [record] = [json.loads(line) for line in audit.read_text().splitlines()]
    assert (record["principal"], record["issuer"], record["auth"]) == (
        "repo:acme/web:ref:refs/heads/main",
        github.issuer,
        "jwt",
    )
    assert (record["profile"], record["tokenId"]) == ("ci-deploy", body["tokenId"])
    assert id_token not in audit.read_text()
    assert body["authToken"] not in audit.read_text()


def test_another_repository_is_403_naming_no_rule(emulator: Emulator, github: Provider) -> None:
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, github.sign(github_claims("acme/infra")), profile="ci-deploy")
        other_owner = vend(server, github.sign(github_claims("umbrella/web")))
    assert_403_naming_no_rule(response)
    assert_403_naming_no_rule(other_owner)
    assert emulator.service.stats()["calls"] == 0


def test_acme_evil_does_not_match_acme_star(emulator: Emulator, github: Provider) -> None:
    evil = github_claims("acme-evil/web", event_name="pull_request", ref="refs/pull/1/merge")
    evil["repository_owner"] = "acme"  # the rule needs acme/* as well: the owner alone is not it
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, github.sign(evil))
        own = vend(server, github.sign(github_claims("acme-evil/web")))
    assert_403_naming_no_rule(response)
    assert_403_naming_no_rule(own)


def test_a_pull_request_from_a_fork_gets_the_read_only_profile_never_deploy(
    emulator: Emulator, github: Provider
) -> None:
    # A fork's pull request runs in the base repository: repository is acme/web, the ref is
    # the pull request's merge ref, the subject ends in :pull_request.
    fork_pr = github.sign(
        github_claims(
            event_name="pull_request",
            ref="refs/pull/7/merge",
            head_ref="mallory:patch-1",
            base_ref="main",
            actor="mallory",
        )
    )
    with keyless(emulator, github_trust(github)) as server:
        deploy = vend(server, fork_pr, profile="ci-deploy")
        readonly = vend(server, fork_pr)  # the only profile it may use is the default
        # The fork's own workflows carry the fork's repository: nothing at all.
        in_the_fork = vend(server, github.sign(github_claims("mallory/web")))
    assert deploy.status_code == 403
    assert deploy.json()["error"]["code"] == "profile_not_allowed"
    assert readonly.status_code == 200, readonly.text
    assert (readonly.json()["profile"], readonly.json()["tokenId"]) == (
        "ci-readonly",
        "acme/web#9876543210",
    )
    assert_403_naming_no_rule(in_the_fork)


def test_a_token_matching_two_rules_may_use_both_with_each_rules_token_id(
    emulator: Emulator, github: Provider
) -> None:
    rules = """
[[server.trust.github.rules]]
claims = { repository_id = "2002" }
profiles = ["ci-readonly"]
token_id = "run-{run_id}-{run_attempt}"
[[server.trust.github.rules]]
claims = { repository_id = "2002", ref = "refs/heads/main" }
profiles = ["ci-deploy", "ci-readonly"]
"""
    trust = (
        f'[server.trust.github]\nissuer = "{github.issuer}"\naudience = "momento-tvm"\n'
        f'provider = "github"\n{rules}'
    )
    id_token = github.sign(github_claims())
    with keyless(emulator, trust) as server:
        listed = vend(server, id_token, path="/profiles").json()["profiles"]
        deploy = vend(server, id_token, profile="ci-deploy").json()
        readonly = vend(server, id_token, profile="ci-readonly").json()
        renamed = vend(server, id_token, profile="ci-deploy", name="someone-else")
        nothing = vend(server, id_token)  # two profiles and no default: pick one
    assert [p["name"] for p in listed] == ["ci-deploy", "ci-readonly"]
    assert deploy["tokenId"] == "repo:acme/web:ref:refs/heads/main"
    assert readonly["tokenId"] == "run-9876543210-1"  # the first rule that grants it
    assert renamed.status_code == 403  # ?name= cannot change a CI token id
    assert nothing.status_code == 400


class FromNow(int):
    """A time claim given as seconds from when the test runs (not from when it was collected:
    a long suite would otherwise reach a "future" time before the test runs)."""


def from_now(claims: dict[str, object]) -> dict[str, object]:
    now = int(time.time())
    return {k: now + v if isinstance(v, FromNow) else v for k, v in claims.items()}


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"aud": "https://github.com/acme"}, "wrong_audience"),
        ({"exp": FromNow(-120)}, "token_expired"),
        ({"nbf": FromNow(300)}, "token_not_yet_valid"),
        ({"sub": None}, "invalid_token"),
    ],
    ids=["wrong audience", "expired", "not yet valid", "no sub"],
)
def test_bad_ci_tokens_are_401_with_a_reason(
    emulator: Emulator, github: Provider, override: dict[str, object], code: str
) -> None:
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, github.sign(from_now({**github_claims(), **override})))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert emulator.service.stats()["calls"] == 0


def test_a_token_signed_by_another_key_is_refused(emulator: Emulator, github: Provider) -> None:
    impostor = Provider(issuer=github.issuer)  # same issuer name, its own key
    impostor.kid = github.kid
    try:
        forged = impostor.sign(github_claims())
    finally:
        impostor.close()
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, forged)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("field", "value"),
    [("discovery_issuer", "https://evil.example.com"), ("jwks_uri", "http://evil.example.com/k")],
    ids=["another issuer", "a jwks_uri in the clear"],
)
def test_a_discovery_document_is_checked_before_its_keys_are_fetched(
    emulator: Emulator, github: Provider, field: str, value: str
) -> None:
    setattr(github, field, value)
    with keyless(emulator, github_trust(github)) as server:
        response = vend(server, github.sign(github_claims()))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "identity_provider_unavailable"
    assert github.fetches.get("/.well-known/jwks", 0) == 0


def test_github_issuer_with_a_jwks_url_and_a_long_subject(
    emulator: Emulator, github: Provider
) -> None:
    """The real GitHub issuer (its safety rules apply), keys from a JWKS URL. Environment
    subjects of long repository names pass 64 bytes: they keep their start and a hash."""
    real = Provider(issuer=GITHUB_ISSUER)
    trust = f"""
[server.trust.github]
issuer = "{GITHUB_ISSUER}"
audience = "momento-tvm"
jwks_url = "{real.jwks_url}"
[[server.trust.github.rules]]
claims = {{ repository_owner_id = "1001", environment = "production" }}
profiles = ["ci-deploy"]
"""
    long_repo = "acme/a-repository-with-a-rather-long-descriptive-name"
    tokens = [
        real.sign(github_claims(f"{long_repo}-{n}", environment="production")) for n in (1, 2)
    ]
    try:
        with keyless(emulator, trust) as server:
            bodies = [vend(server, t, profile="ci-deploy").json() for t in tokens]
    finally:
        real.close()
    ids = [body["tokenId"] for body in bodies]
    subject = f"repo:{long_repo}-1:environment:production"
    assert ids[0] == fit_token_id(subject)
    assert len(ids[0].encode()) == 64
    assert ids[0].startswith("repo:acme/a-repository-with-a-rather-long-d~")
    assert ids[0] != ids[1]
    assert [parse_credential(b["authToken"]).claims["id"] for b in bodies] == ids


def test_a_gitlab_shaped_token(emulator: Emulator) -> None:
    gitlab = Provider(jwks_path="/oauth/discovery/keys")
    trust = f"""
[server.trust.gitlab]
issuer = "{gitlab.issuer}"
audience = "https://tvm.example.com"
provider = "gitlab"                     # self-managed GitLab names its provider
[[server.trust.gitlab.rules]]
claims = {{ project_path = "acme/web", ref_protected = true, project_id = 4242 }}
profiles = ["ci-deploy"]
token_id = "gitlab-{{project_id}}-{{pipeline_id}}"
[[server.trust.gitlab.rules]]
claims = {{ namespace_path = "acme", ref_protected = "false" }}
profiles = ["ci-readonly"]
"""
    protected = gitlab.sign(gitlab_claims())
    unprotected = gitlab.sign(gitlab_claims(ref="feature", ref_protected="false"))
    other_project = gitlab.sign(gitlab_claims("acme-evil/web"))
    try:
        with keyless(emulator, trust) as server:
            deploy = vend(server, protected, profile="ci-deploy")
            branch = vend(server, unprotected, profile="ci-deploy")
            readonly = vend(server, unprotected, profile="ci-readonly")
            other = vend(server, other_project)
    finally:
        gitlab.close()
    assert deploy.status_code == 200, deploy.text
    assert deploy.json()["tokenId"] == "gitlab-4242-555"  # a number claim, as its text
    assert branch.status_code == 403
    assert readonly.json()["tokenId"] == "project_path:acme/web:ref_type:branch:ref:feature"
    assert_403_naming_no_rule(other)
    assert gitlab.fetches["/oauth/discovery/keys"] == 1


def test_a_cognito_sign_in_and_ci_tokens_on_one_server(
    emulator: Emulator, github: Provider, tmp_path: Path
) -> None:
    gitlab = Provider(jwks_path="/oauth/discovery/keys")
    cognito_key = Key("rsa", "cognito-1")
    jwks_file = tmp_path / "cognito-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [cognito_key.jwk]}))
    tables = [
        f"""
[server.jwt]
issuer = "{COGNITO_ISSUER}"
audience = "{COGNITO_CLIENT}"
jwks_file = "{jwks_file}"
[server.groups.readers]
profiles = ["chat-reader"]
""",
        github_trust(github),
        f"""
[server.trust.gitlab]
issuer = "{gitlab.issuer}"
audience = "https://tvm.example.com"
rules = [{{ claims = {{ project_path = "acme/web" }}, profiles = ["ci-readonly"] }}]
""",
    ]
    try:
        with keyless(emulator, *tables) as server:
            rita = vend(server, cognito(cognito_key, ["readers"]))
            rita_deploy = vend(server, cognito(cognito_key, ["readers"]), profile="ci-deploy")
            pipeline = vend(server, github.sign(github_claims()), profile="ci-deploy")
            gitlab_job = vend(server, gitlab.sign(gitlab_claims()))
            # A CI token with the sign-in audience, or groups, gets nothing more.
            sneaky = vend(
                server,
                github.sign(github_claims(audience=COGNITO_CLIENT, **{"cognito:groups": ["x"]})),
            )
            stranger = vend(server, github.sign(github_claims(iss="https://ci.example.com")))
    finally:
        gitlab.close()
    assert (rita.json()["profile"], rita.json()["tokenId"]) == (
        "chat-reader",
        "4b5c1d2e-0000-4000-8000-00000000abcd",
    )
    assert rita_deploy.status_code == 403
    assert pipeline.json()["profile"] == "ci-deploy"
    assert gitlab_job.json()["profile"] == "ci-readonly"
    assert sneaky.json()["error"]["code"] == "wrong_audience"
    assert stranger.json()["error"]["code"] == "wrong_issuer"


# -- refused at load time ----------------------------------------------------------------------


def load_problems(server: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROFILES + server, Path("ci.toml"))
    assert caught.value.exit_code == 3
    return caught.value.problems


def test_the_issue_contract_loads() -> None:
    text = server_toml(
        f'[server.trust.github]\nissuer = "{GITHUB_ISSUER}"\naudience = "momento-tvm"\n'
        + GITHUB_RULES
    )
    [trust] = parse_config(PROFILES + text, Path("ci.toml")).server.trusts
    assert (trust.name, trust.issuer, trust.audience) == ("github", GITHUB_ISSUER, ("momento-tvm",))
    assert (trust.jwks_url, trust.jwks_file) == (None, None)  # discovery
    assert [r.profiles for r in trust.rules] == [("ci-deploy",), ("ci-readonly",)]
    assert trust.rules[1].token_id == "{repository}#{run_id}"


def test_a_rule_with_no_claims_is_refused_at_load() -> None:
    [problem] = load_problems(
        server_toml(
            '[server.trust.ci]\nissuer = "https://ci.example.com"\naudience = "tvm"\n'
            '[[server.trust.ci.rules]]\nclaims = {}\nprofiles = ["ci-deploy"]\n'
        )
    )
    assert problem.startswith("ci.toml: [server].trust.ci.rules[0].claims: needs claims")


def test_every_unsafe_trust_is_refused_at_load_each_problem_named() -> None:
    problems = load_problems(
        server_toml(
            f"""
[server.trust.github]
issuer = "{GITHUB_ISSUER}"
[[server.trust.github.rules]]
claims = {{ ref = "refs/heads/main", environment = "production" }}
profiles = ["ci-deploy"]
[[server.trust.github.rules]]
claims = {{ repository = "*" }}
profiles = ["ci-deploy"]
[[server.trust.github.rules]]
claims = {{ repository = "acme*" }}
profiles = ["ci-deploy"]
[[server.trust.github.rules]]
claims = {{ sub = "repo:*" }}
profiles = ["ci-deploy"]
[[server.trust.github.rules]]
claims = {{ repository = "acme/web" }}
profiles = ["ci-deploy"]
token_id = "{{repository}}@{{environment}}"
[[server.trust.github.rules]]
claims = {{ repository = "acme/web" }}
profiles = ["ci-deploi"]
token_id = "{{repository"
[server.trust.gitlab]
issuer = "https://gitlab.com"
audience = "tvm"
rules = [{{ claims = {{ ref_protected = "true" }}, profiles = ["ci-deploy"] }}]
[server.trust.selfhosted]
issuer = "http://gitlab.internal.example"
audience = "tvm"
[[server.trust.selfhosted.rules]]
claims = {{ project_path = "a/b" }}
profiles = ["ci-deploy"]
token_id = "{{project_id}}"
[server.trust.ghes]
issuer = "https://github.acme.example/_services/token"
audience = "tvm"
provider = "github"
rules = [{{ claims = {{ workflow = "deploy" }}, profiles = ["ci-deploy"] }}]
[server.trust.confused]
issuer = "{GITHUB_ISSUER}/acme-enterprise"
audience = "tvm"
provider = "gitlab"
rules = [{{ claims = {{ repository = "acme/web" }}, profiles = ["ci-deploy"] }}]
"""
        )
    )
    text = "\n".join(problems)
    expected = [
        "trust.github.audience: needs the audience your pipelines ask for",
        "trust.github.rules[0].claims: binds none of repository, repository_id, "
        "repository_owner, repository_owner_id, sub",
        "trust.github.rules[1].claims: binds none",
        "trust.github.rules[2].claims: binds none",
        "trust.github.rules[3].claims: binds none",
        "trust.github.rules[4].token_id: names {environment}, which a token matching this rule "
        "may lack",
        "trust.github.rules[5].profiles: no profile named 'ci-deploi'; did you mean 'ci-deploy'?",
        "trust.github.rules[5].token_id: braces must enclose a claim name",
        "trust.gitlab.rules[0].claims: binds none of project_path, project_id, namespace_path, "
        "namespace_id, sub (exactly, or with * only after the owner's '/'): it would trust every "
        "project on gitlab.com",
        "trust.selfhosted.issuer: must be https://",
        "trust.selfhosted.rules[0].token_id: names {project_id}",
        "trust.ghes.rules[0].claims: binds none of repository, repository_id, "
        "repository_owner, repository_owner_id, sub (exactly, or with * only after the owner's "
        "'/'): it would trust every repository this issuer signs for",
        f"trust.confused.provider: {GITHUB_ISSUER}/acme-enterprise is github's issuer",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert len(problems) == len(expected), text


def test_the_documented_always_present_claims_may_be_named() -> None:
    text = server_toml(
        f"""
[server.trust.github]
issuer = "{GITHUB_ISSUER}"
audience = "momento-tvm"
[[server.trust.github.rules]]
claims = {{ repository_owner_id = "1001", environment = "prod*" }}
profiles = ["ci-deploy"]
token_id = "{{repository}}:{{environment}}:{{run_id}}.{{run_attempt}}:{{sub}}"
"""
    )
    [trust] = parse_config(PROFILES + text, Path("ci.toml")).server.trusts
    assert trust.rules[0].token_id is not None


def test_one_issuer_in_two_tables_and_trusts_without_jwt_auth_are_refused() -> None:
    twice = load_problems(
        server_toml(
            *(
                f'[server.trust.{name}]\nissuer = "https://ci.example.com"\naudience = "a"\n'
                f'rules = [{{ claims = {{ sub = "x" }}, profiles = ["ci-deploy"] }}]\n'
                for name in ("one", "two")
            )
        )
    )
    assert any("'https://ci.example.com' is trusted by more than one table" in p for p in twice)
    bearer = load_problems(
        '[server]\nauth = "bearer"\n[server.trust.x]\nissuer = "https://ci.example.com"\n'
    )
    assert any('trust: is only read with auth = "jwt"' in p for p in bearer)
    neither = load_problems('[server]\nauth = "jwt"\n')
    assert any("needs [server.jwt] (sign-in tokens) or [server.trust.NAME]" in p for p in neither)


def test_serve_refuses_an_unsafe_trust_with_exit_3(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "ci.toml"
    path.write_text(
        PROFILES
        + server_toml(
            f'[server.trust.github]\nissuer = "{GITHUB_ISSUER}"\n'
            '[[server.trust.github.rules]]\nclaims = {}\nprofiles = ["ci-deploy"]\n'
        )
    )
    result = cli("serve", "-c", str(path))
    assert result.exit_code == 3, result.output
    assert "trust.github.audience" in result.stderr
    assert "trust.github.rules[0].claims: needs claims" in result.stderr
    assert "Traceback" not in result.stderr


# -- the rules themselves ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("acme/*", "acme/web", True),
        ("acme/*", "acme-evil/web", False),
        ("acme/*", "acme/", True),
        ("acme/*", "acme", False),
        ("repo:acme/*:ref:refs/heads/*", "repo:acme/web:ref:refs/heads/main", True),
        ("repo:acme/*:ref:refs/heads/*", "repo:acme/web:pull_request", False),
        ("*", "", True),
        ("a*a", "a", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("refs/heads/main", "refs/heads/main2", False),
        ("v?.[0-9]", "v?.[0-9]", True),  # only * is special
        ("v?.[0-9]", "v1.2", False),
        ("*" * 30 + "x", "a" * 5000, False),  # linear: no backtracking to time out
    ],
)
def test_glob_matching(pattern: str, value: str, matches: bool) -> None:
    assert glob_match(pattern, value) is matches


def test_claims_are_compared_as_strings() -> None:
    assert [claim_text(v) for v in ("x", 42, True, False, None, ["a"], {"a": 1})] == [
        "x",
        "42",
        "true",
        "false",
        None,
        None,
        None,
    ]
    assert rule_matches((("project_id", "4242"), ("ref_protected", "true")), gitlab_claims())
    assert not rule_matches((("environment", "*"),), github_claims())  # absent never matches
    assert render("{repository}#{run_id}", github_claims()) == "acme/web#9876543210"
    assert render("{environment}", github_claims()) is None


def test_a_long_token_id_keeps_its_start_and_a_hash_within_64_bytes() -> None:
    assert fit_token_id("x" * 64) == "x" * 64
    for text in ("y" * 65, "é" * 40, "repo:ö/" + "ü" * 60):
        fitted = fit_token_id(text)
        assert len(fitted.encode()) <= 64
        assert fitted.isprintable()
        assert text.startswith(fitted.split("~")[0])
    assert fit_token_id("y" * 65) != fit_token_id("y" * 66)


def test_the_readme_server_example_loads_as_documented() -> None:
    readme = page("serve/sign-in.md")
    [block] = [
        b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[server.trust.github]" in b
    ]
    settings = parse_config(PROFILES + block, Path("docs/serve/sign-in.md")).server
    github, gitlab = settings.trusts
    assert (github.issuer, github.provider, gitlab.provider) == (GITHUB_ISSUER, "github", "gitlab")
    assert github.rules[1].token_id == "{repository}#{run_id}"
    assert gitlab.audience == ("https://tvm.example.com",)


def test_start_up_counts_the_profiles_the_trusts_grant() -> None:
    """`serve` says which profiles some caller may use: with only a CI trust, its rules'."""
    from tvmcli.server.running import served_profiles

    config = parse_config(
        PROFILES
        + '[server]\nauth = "jwt"\n'
        + f'[server.trust.github]\nissuer = "{GITHUB_ISSUER}"\naudience = "momento-tvm"\n'
        + 'jwks_url = "https://keys.example.com/jwks"\n'
        + GITHUB_RULES,
        Path("trust.toml"),
    )
    assert served_profiles(config) == ["ci-deploy", "ci-readonly"]
