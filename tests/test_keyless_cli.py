"""Keyless CI, the client side: `mint --from URL` and `exec --from URL` get the token from a real
vending server (over HTTP, minting from the emulator over gRPC) for the identity the job has:
GitHub Actions' ID token (its request endpoint played locally), a GitLab `id_tokens:` variable,
or a bearer token. No Momento key anywhere on this side."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tests.ci_providers import (
    CI_PROFILES,
    Provider,
    github_claims,
    gitlab_claims,
    keyless_server_toml,
)
from tests.serving import BEARER, DEFAULT_SERVER, Running, serve
from tests.test_token_env import parse_github_file
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator, Faults

Cli = Callable[..., Result]
TVM = str(Path(sys.executable).parent / "momento-tvm")
SUB = "repo:acme/web:ref:refs/heads/main"


@pytest.fixture
def github() -> Iterator[Provider]:
    provider = Provider()
    provider.job = github_claims(audience=None)
    yield provider
    provider.close()


@pytest.fixture
def gitlab() -> Iterator[Provider]:
    provider = Provider(jwks_path="/oauth/discovery/keys")
    yield provider
    provider.close()


@pytest.fixture
def server(emulator: Emulator, github: Provider, gitlab: Provider) -> Iterator[Running]:
    with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as running:
        yield running


@pytest.fixture
def in_actions(github: Provider, monkeypatch: pytest.MonkeyPatch) -> Provider:
    """This process is a GitHub Actions job with `permissions: id-token: write`."""
    for name, value in github.actions_env().items():
        monkeypatch.setenv(name, value)
    return github


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


# -- GitHub Actions ------------------------------------------------------------------------------


def test_in_github_actions_mint_from_asks_for_an_id_token_and_gets_the_profile(
    cli: Cli, server: Running, in_actions: Provider
) -> None:
    result = cli("mint", "ci-deploy", "--from", server.url, "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["profile"], body["tokenId"]) == ("ci-deploy", SUB)
    assert set(body) == {"authToken", "endpoint", "expiresAt", "expiresAtIso", "profile", "tokenId"}
    decoded = parse_credential(body["authToken"])
    assert decoded.kind is Kind.DISPOSABLE_TOKEN
    assert (decoded.claims["exp"], decoded.claims["id"]) == (body["expiresAt"], SUB)
    # The request endpoint saw its bearer and the default audience.
    assert in_actions.id_token_requests == [(True, "momento-tvm")]
    assert_no_secret(result.stderr, in_actions.request_token)


def test_every_output_form_works_as_for_a_local_mint(
    cli: Cli,
    server: Running,
    in_actions: Provider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = cli("mint", "ci-deploy", "--from", server.url, "-o", "raw")
    assert parse_credential(raw.stdout.strip()).kind is Kind.DISPOSABLE_TOKEN
    env = cli("mint", "ci-deploy", "--from", server.url, "-o", "env", "--env-var", "DEPLOY")
    assert env.stdout.startswith("export DEPLOY='")
    assert "export MOMENTO_TOKEN_EXPIRES_AT=" in env.stdout
    for form in ("fish", "powershell"):
        assert cli("mint", "ci-deploy", "--from", server.url, "-o", form).exit_code == 0
    out = tmp_path / ".env.momento"
    dotenv = cli("mint", "ci-deploy", "--from", server.url, "-o", "dotenv", "--out", str(out))
    assert dotenv.exit_code == 0, dotenv.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("MOMENTO_API_KEY=")
    github_env = tmp_path / "github_env"
    monkeypatch.setenv("GITHUB_ENV", str(github_env))
    github = cli("mint", "ci-deploy", "--from", server.url, "-o", "github", "--github-env")
    values = parse_github_file(github_env.read_text())
    assert github.stdout == f"::add-mask::{values['MOMENTO_API_KEY']}\n"
    text = cli("mint", "ci-deploy", "--from", server.url, "-o", "text")
    assert "Token id" in text.stdout
    assert SUB in text.stdout


def test_the_url_comes_from_momento_tvm_url_by_default(
    cli: Cli, server: Running, in_actions: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_TVM_URL", server.url + "/")
    result = cli("mint", "ci-deploy", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["tokenId"] == SUB
    explicit_local = cli("mint", "ci-deploy", "--expires-in", "5m")
    assert explicit_local.exit_code == 2
    assert "--expires-in does not go with $MOMENTO_TVM_URL" in explicit_local.stderr


def test_another_audience_is_asked_for_and_refused_by_the_server(
    cli: Cli, server: Running, in_actions: Provider
) -> None:
    result = cli("mint", "ci-deploy", "--from", server.url, "--audience", "sts.amazonaws.com")
    assert result.exit_code == 4
    assert in_actions.id_token_requests == [(True, "sts.amazonaws.com")]
    assert "refused: the CI identity token is not valid (wrong_audience)" in result.stderr
    assert result.stdout == ""


def test_a_repository_no_rule_names_is_refused_with_exit_4_and_the_servers_message(
    cli: Cli, server: Running, in_actions: Provider
) -> None:
    in_actions.job = github_claims("acme/infra", audience=None)
    result = cli("mint", "ci-deploy", "--from", server.url)
    assert result.exit_code == 4
    assert "refused: you may use no profile (no group or rule grants one) (no_profiles)" in (
        result.stderr
    )
    assert "Sent a GitHub Actions ID token." in result.stderr
    assert result.stdout == ""


def test_the_id_token_endpoint_refusing_is_exit_4_with_a_hint(
    cli: Cli, server: Running, in_actions: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghs_not-the-right-one")
    result = cli("mint", "ci-deploy", "--from", server.url)
    assert result.exit_code == 4
    assert "GitHub Actions' ID-token endpoint refused the request (HTTP 401)" in result.stderr
    assert "id-token: write" in result.stderr
    assert "ghs_not-the-right-one" not in result.stderr


def test_the_id_token_endpoint_failing_is_exit_5(
    cli: Cli, server: Running, in_actions: Provider
) -> None:
    in_actions.id_token_status = 503
    result = cli("mint", "ci-deploy", "--from", server.url, "--timeout", "2s")
    assert result.exit_code == 5
    assert "GitHub Actions' ID-token endpoint is unavailable (HTTP 503)" in result.stderr
    assert result.stdout == ""


# -- GitLab, bearer tokens, no identity --------------------------------------------------------


def test_gitlab_id_token_from_a_variable(
    cli: Cli, server: Running, gitlab: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    id_token = gitlab.sign(gitlab_claims())
    monkeypatch.setenv("MOMENTO_ID_TOKEN", id_token)
    result = cli("mint", "ci-deploy", "--from", server.url, "--id-token-env", "MOMENTO_ID_TOKEN")
    assert result.exit_code == 0, result.stderr
    assert parse_credential(result.stdout.strip()).claims["id"] == (
        "project_path:acme/web:ref_type:branch:ref:main"
    )
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims(ref_protected="false")))
    refused = cli("mint", "ci-deploy", "--from", server.url, "--id-token-env", "MOMENTO_ID_TOKEN")
    assert refused.exit_code == 4
    assert_no_secret(refused.stderr + refused.stdout, id_token)
    unset = cli("mint", "ci-deploy", "--from", server.url, "--id-token-env", "NOT_SET")
    assert (unset.exit_code, "$NOT_SET is not set or empty" in unset.stderr) == (2, True)


def test_the_id_token_variable_wins_over_github_actions(
    cli: Cli,
    server: Running,
    in_actions: Provider,
    gitlab: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims()))
    result = cli("mint", "ci-deploy", "--from", server.url, "--id-token-env", "MOMENTO_ID_TOKEN")
    assert result.exit_code == 0, result.stderr
    assert in_actions.id_token_requests == []


def test_a_bearer_server_with_a_bearer_file_or_momento_tvm_bearer(
    cli: Cli, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bearer_file = tmp_path / "bearer"
    bearer_file.write_text(BEARER + "\n")
    with serve(emulator, DEFAULT_SERVER) as bearer_server:
        from_file = cli(
            "mint", "chat-reader", "--from", bearer_server.url,
            "--bearer-file", str(bearer_file), "--token-id", "job-7", "-o", "json",
        )  # fmt: skip
        monkeypatch.setenv("MOMENTO_TVM_BEARER", BEARER)
        from_env = cli("mint", "chat-writer", "--from", bearer_server.url, "-o", "json")
        monkeypatch.setenv("MOMENTO_TVM_BEARER", "wrong-bearer-token-123456")
        wrong = cli("mint", "chat-writer", "--from", bearer_server.url)
        monkeypatch.delenv("MOMENTO_TVM_BEARER")
        nobody = cli("mint", "chat-writer", "--from", bearer_server.url)
    assert from_file.exit_code == 0, from_file.stderr
    assert json.loads(from_file.stdout)["tokenId"] == "job-7"  # --token-id is ?name=
    assert json.loads(from_env.stdout)["profile"] == "chat-writer"
    assert wrong.exit_code == 4
    assert "refused: the bearer token is not valid (bad_credentials)" in wrong.stderr
    assert "wrong-bearer-token-123456" not in wrong.stderr
    assert nobody.exit_code == 4
    assert "No identity was sent" in nobody.stderr


# -- errors keep the exit-code table -------------------------------------------------------------


def test_429_is_retried_after_retry_after_within_the_timeout(
    cli: Cli, emulator: Emulator, github: Provider, gitlab: Provider, in_actions: Provider
) -> None:
    toml = keyless_server_toml(github, gitlab).replace(
        "client_rate = 0", "client_rate = 1\nclient_burst = 1"
    )
    with serve(emulator, toml, CI_PROFILES) as limited:
        first = cli("mint", "ci-deploy", "--from", limited.url)
        second = cli("mint", "ci-deploy", "--from", limited.url)  # 429, then after 1 s: 200
        third = cli("mint", "ci-deploy", "--from", limited.url, "--timeout", "0.5")
    assert (first.exit_code, second.exit_code) == (0, 0), second.stderr
    assert third.exit_code == 5
    assert "is throttling (HTTP 429); it asks to retry after 1s, past --timeout" in third.stderr


def test_503_while_the_identity_provider_is_down_is_retried_then_exit_5(
    cli: Cli, server: Running, github: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ID token is issued, then the provider goes away: its JWKS cannot be fetched, and
    # the server answers 503 with Retry-After 1, then 2: the second wait passes the timeout.
    id_token = github.sign(github_claims())
    github.close()
    monkeypatch.setenv("MOMENTO_ID_TOKEN", id_token)
    result = cli(
        "mint", "ci-deploy", "--from", server.url,
        "--id-token-env", "MOMENTO_ID_TOKEN", "--timeout", "2.5",
    )  # fmt: skip
    assert result.exit_code == 5
    assert "is unavailable (HTTP 503)" in result.stderr
    assert id_token not in result.stderr


def test_a_momento_timeout_behind_the_server_is_504_and_exit_5(
    cli: Cli, github: Provider, gitlab: Provider, in_actions: Provider
) -> None:
    with (
        Emulator(rate_limit=0, faults=Faults(latency=3.0)) as slow,
        serve(slow, keyless_server_toml(github, gitlab), CI_PROFILES, timeout=0.5) as server,
    ):
        result = cli("mint", "ci-deploy", "--from", server.url)
    assert result.exit_code == 5
    assert "Momento did not answer in time (momento_timeout)" in result.stderr


def test_an_unreachable_server_is_exit_5(cli: Cli, in_actions: Provider) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("mint", "ci-deploy", "--from", f"http://127.0.0.1:{port}")
    assert result.exit_code == 5
    assert f"cannot reach the vending server at http://127.0.0.1:{port}" in result.stderr


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """A plain file server: what --from reaches when it names the wrong thing."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


def test_an_answer_that_is_not_a_momento_tvm_server_is_exit_1_with_a_clear_line(
    cli: Cli, in_actions: Provider, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("<html>Welcome to nginx!</html>")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "token").write_text('{"authToken": "not a token", "expiresAt": 1}')
    with static_site(tmp_path) as site:
        html = cli("mint", "ci-deploy", "--from", site)
        fake = cli("mint", "ci-deploy", "--from", site + "/app/token")
        missing = cli("mint", "ci-deploy", "--from", site + "/nothing")
    for result in (html, fake):
        assert result.exit_code == 1
        assert "answered 200 with something other than a momento-tvm token" in result.stderr
        assert "Is --from the address of a momento-tvm server?" in result.stderr
    assert missing.exit_code == 1
    assert "answered HTTP 404, not a token" in missing.stderr  # the status said once
    assert "Traceback" not in html.stderr + fake.stderr + missing.stderr


def test_a_server_repeating_the_credential_in_its_message_is_withheld(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            said = self.headers.get("Authorization", "")
            body = json.dumps({"error": {"code": "nope", "message": f"bad: {said}"}}).encode()
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    monkeypatch.setenv("MOMENTO_TVM_BEARER", "a-secret-bearer-0123456789")
    try:
        result = cli("mint", "x", "--from", f"http://127.0.0.1:{echo.server_address[1]}")
    finally:
        echo.shutdown()
        echo.server_close()
    assert result.exit_code == 4
    assert "a-secret-bearer-0123456789" not in result.stderr
    assert "the answer repeated the credential sent (withheld)" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://tvm.example.com", "must be https:// (plain http:// only to a loopback address)"),
        ("ftp://tvm.example.com", "must be an https:// URL"),
        ("https://tvm.example.com/?profile=x", "without ?query or #fragment"),
        ("https://ci:hunter2-secret@tvm.example.com", "cannot carry a user or password"),
    ],
)
def test_only_https_or_loopback_http_is_asked(
    cli: Cli, in_actions: Provider, url: str, message: str
) -> None:
    result = cli("mint", "ci-deploy", "--from", url)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "hunter2" not in result.stderr
    assert in_actions.id_token_requests == []  # nothing was asked for before the URL was checked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "https://x.example", "--expires-in", "5m"], "--expires-in does not go with"),
        (["--from", "https://x.example", "--api-key-file", "k"], "--api-key-file does not go"),
        (["--from", "https://x.example", "--endpoint", "e:1"], "--endpoint does not go with"),
        (["--from", "https://x.example", "-c", "p.toml"], "--config does not go with --from"),
        (["--id-token-env", "T"], "--id-token-env goes with --from URL"),
        (["--bearer-file", "b"], "--bearer-file goes with --from URL"),
        (["--audience", "a"], "--audience goes with --from URL"),
        (
            ["--from", "https://x.example", "--id-token-env", "T", "--bearer-file", "b"],
            "two identities",
        ),
        (["--from", "https://x.example", "--audience", "a"], "--audience needs GitHub Actions"),
        (["--from", "https://x.example", "--min-ttl", "1m"], "--min-ttl goes with --reuse"),
    ],
)
def test_options_that_do_not_go_with_from_are_usage_errors(
    cli: Cli, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T", "x.y.z")
    for command in (["mint", "ci-deploy"], ["exec", "ci-deploy"]):
        tail = ["--", "true"] if command[0] == "exec" else []
        result = cli(*command, *args, *tail)
        assert result.exit_code == 2, (command, result.stderr)
        assert message in result.stderr


# -- --reuse and exec ----------------------------------------------------------------------------


def test_reuse_keeps_the_servers_token_per_audience_never_a_secret(
    cli: Cli, server: Running, in_actions: Provider, tmp_path: Path
) -> None:
    first = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
    again = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == again.stdout
    assert "Reusing the ci-deploy token fetched earlier" in again.stderr
    assert len(in_actions.id_token_requests) == 1  # the second run asked nobody
    other = cli(
        "mint", "ci-deploy", "--from", server.url, "--reuse", "--audience", "momento-tvm-2",
    )  # fmt: skip
    assert other.exit_code == 4  # another audience: asked again (and refused by the server)
    assert len(in_actions.id_token_requests) == 2
    cached = "".join(p.read_text() for p in (tmp_path / "home" / ".cache").rglob("*.json"))
    assert first.stdout.strip() in cached
    assert_no_secret(cached, in_actions.request_token, "momento-tvm-2")


def test_reuse_never_hands_one_jobs_token_to_another_job_in_the_same_cache(
    cli: Cli, server: Running, in_actions: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared runner (self-hosted GitHub runner): job A, which a rule allows, fetches with
    --reuse; job B of another repository, which no rule allows, runs next with the same cache
    folder. It must be asked about and refused, not handed A's token."""
    first = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
    assert first.exit_code == 0, first.stderr
    in_actions.job = github_claims(repository="other/x", audience=None)
    monkeypatch.setenv("GITHUB_REPOSITORY", "other/x")
    monkeypatch.setenv("GITHUB_RUN_ID", "555")
    other = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
    assert other.exit_code == 4, other.stderr
    assert "Reusing" not in other.stderr
    assert first.stdout.strip() not in other.stdout
    assert len(in_actions.id_token_requests) == 2  # B's own ID token was asked for
    # The same repository's next job (another GITHUB_JOB) is another caller too.
    in_actions.job = github_claims(audience=None)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/web")
    monkeypatch.setenv("GITHUB_RUN_ID", "9876543210")
    monkeypatch.setenv("GITHUB_JOB", "release")
    next_job = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
    assert next_job.exit_code == 0, next_job.stderr
    assert "Reusing" not in next_job.stderr
    assert len(in_actions.id_token_requests) == 3


def test_reuse_in_github_actions_without_the_jobs_names_never_reuses(
    cli: Cli, server: Running, in_actions: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_JOB")
    for _ in range(2):
        result = cli("mint", "ci-deploy", "--from", server.url, "--reuse", "-o", "raw")
        assert result.exit_code == 0, result.stderr
        assert "not reusing, since this job cannot be told from another" in result.stderr
        assert "Reusing" not in result.stderr
    assert len(in_actions.id_token_requests) == 2


def test_reuse_keeps_id_tokens_apart_by_issuer_and_subject(
    cli: Cli, server: Running, gitlab: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims()))
    args = ("mint", "ci-deploy", "--from", server.url, "--id-token-env", "MOMENTO_ID_TOKEN")
    first = cli(*args, "--reuse", "-o", "raw")
    assert first.exit_code == 0, first.stderr
    # The same job's next ID token (another jti, the same iss and sub) reuses it...
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims()))
    again = cli(*args, "--reuse", "-o", "raw")
    assert "Reusing the ci-deploy token fetched earlier" in again.stderr
    assert again.stdout == first.stdout
    # ...another project's, with the same audience, does not: the server refuses it.
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims(project_path="other/x")))
    other = cli(*args, "--reuse", "-o", "raw")
    assert other.exit_code == 4, other.stderr
    assert "Reusing" not in other.stderr


def test_reuse_with_a_wrong_bearer_is_refused_not_handed_the_right_ones_token(
    cli: Cli, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with serve(emulator, DEFAULT_SERVER) as bearer_server:
        monkeypatch.setenv("MOMENTO_TVM_BEARER", BEARER)
        right = cli("mint", "chat-writer", "--from", bearer_server.url, "--reuse", "-o", "raw")
        assert right.exit_code == 0, right.stderr
        monkeypatch.setenv("MOMENTO_TVM_BEARER", "wrong-bearer-token-123456")
        wrong = cli("mint", "chat-writer", "--from", bearer_server.url, "--reuse", "-o", "raw")
        assert wrong.exit_code == 4, wrong.stderr
        assert "refused: the bearer token is not valid" in wrong.stderr
        assert right.stdout.strip() not in wrong.stdout
        bearer_file = tmp_path / "bearer"
        bearer_file.write_text("another-wrong-bearer-987654\n")
        monkeypatch.delenv("MOMENTO_TVM_BEARER")
        from_file = cli(
            "mint", "chat-writer", "--from", bearer_server.url, "--reuse",
            "--bearer-file", str(bearer_file),
        )  # fmt: skip
        assert from_file.exit_code == 4, from_file.stderr
    cached = "".join(p.read_text() for p in (tmp_path / "home" / ".cache").rglob("*.json"))
    assert_no_secret(cached, BEARER, "wrong-bearer-token-123456")


def test_exec_from_removes_every_identity_from_the_commands_environment(
    server: Running, in_actions: Provider, gitlab: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_ID_TOKEN", gitlab.sign(gitlab_claims()))
    monkeypatch.setenv("MOMENTO_TVM_BEARER", "bearer-for-another-server-123")
    monkeypatch.setenv("KEEP_ME", "yes")
    names = [
        "MOMENTO_API_KEY",
        "MOMENTO_TOKEN_EXPIRES_AT",
        "MOMENTO_ID_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "MOMENTO_TVM_BEARER",
        "KEEP_ME",
    ]
    child = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    result = subprocess.run(
        [TVM, "exec", "ci-deploy", "--from", server.url, "--id-token-env", "MOMENTO_ID_TOKEN",
         "--", sys.executable, "-c", child],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    token = seen.pop("MOMENTO_API_KEY")
    assert parse_credential(token).claims["exp"] == int(seen.pop("MOMENTO_TOKEN_EXPIRES_AT"))
    assert seen == dict.fromkeys(names[2:-1]) | {"KEEP_ME": "yes"}
    gitlab_only = subprocess.run(
        [TVM, "exec", "ci-deploy", "--from", server.url, "--", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert gitlab_only.returncode == 0, gitlab_only.stderr  # Actions' ID token this time


def test_https_is_verified_against_the_system_cas(
    cli: Cli, in_actions: Provider, tmp_path: Path
) -> None:
    import ssl

    from tests.test_oidc import OneAnswer, self_signed_certificate

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path))
    impostor = OneAnswer(200, {}, b'{"authToken": "x"}', tls=context)
    try:
        result = cli("mint", "ci-deploy", "--from", f"https://localhost:{impostor.port}")
    finally:
        impostor.close()
    assert result.exit_code == 5
    assert "cannot connect (SSLCertVerificationError)" in result.stderr
    assert impostor.hits == 0  # the handshake failed: no request, no ID token sent
