"""`momento-tvm inspect`: every credential format, input form, check and bad input."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

import tvmcli
from tvmcli.config.file import load_config
from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import Kind, make_envelope
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator

Cli = Callable[..., Result]
EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"
SECRET = b"k" * 32


def minted(emulator: Emulator, profile: str = "chat-writer", lifetime: int | None = None) -> str:
    chosen = load_config(EXAMPLE).profile(profile)
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    return tvmcli.mint(chosen, expires_in=lifetime, api_key=key).auth_token


def jwt(claims: dict[str, object]) -> str:
    return jwtcodec.sign_hs256(claims, SECRET)


def test_disposable_token_shows_endpoint_expiry_id_and_permissions(
    cli: Cli, emulator: Emulator
) -> None:
    token = minted(emulator)
    result = cli("inspect", token)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    fields = labelled(out)
    assert fields["Kind"] == "disposable token"
    assert fields["Endpoint"] == emulator.endpoint
    assert fields["token (SDKs)"] == f"token.{emulator.endpoint}"  # what both SDKs derive
    assert "do not reach" in fields["note"]
    assert fields["Status"] == "valid"
    assert fields["Token id"] == "ci-bot"
    assert fields["Subject"] == "emulator"
    assert re.search(r"\(in (15m|14m5\ds)\)$", fields["Expires at"])
    assert fields["Claim iss"] == '"momento-tvm-emulator"'
    assert "topic\tpublish-subscribe\tchat\ttopic prefix 'room-'" in out
    assert "cache\tread-write\tchat\tkey prefix 'user-'" in out


def labelled(out: str) -> dict[str, str]:
    """'Label   value' lines of the text output as a dict."""
    pairs = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_never_shows_the_token_or_its_signature(cli: Cli, emulator: Emulator) -> None:
    token = minted(emulator)
    inner = json.loads(base64.b64decode(token))["api_key"]
    for fmt in ("text", "json"):
        out = cli("inspect", token, "-o", fmt).stdout
        assert token not in out
        assert inner not in out
        assert inner.rsplit(".", 1)[1] not in out
        assert token[:3] + "..." + token[-3:] in out


def test_json_output_has_stable_names(cli: Cli, emulator: Emulator) -> None:
    token = minted(emulator, "chat-reader")
    body = json.loads(cli("inspect", token, "--output", "json").stdout)
    assert set(body) == {
        "kind",
        "kindLabel",
        "token",
        "endpoint",
        "endpoints",
        "issuedAt",
        "issuedAtIso",
        "expiresAt",
        "expiresAtIso",
        "secondsLeft",
        "status",
        "tokenId",
        "subject",
        "superUser",
        "permissions",
        "claims",
    }
    assert body["kind"] == "disposable-token"
    assert body["status"] == "valid"
    assert 3590 < body["secondsLeft"] <= 3600
    assert body["expiresAtIso"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(body["expiresAt"])
    )
    assert body["permissions"] == [
        {"resource": "topic", "role": "subscribe-only", "cache": "chat", "scope": "all topics"}
    ]
    derived = {name: f"{name}.{emulator.endpoint}" for name in ("cache", "control", "token")}
    assert body["endpoints"] == {"pythonSdk": derived, "jsSdk": derived}


def test_v1_key_with_spaced_json_envelope(cli: Cli) -> None:
    inner = jwt({"sub": "ops", "iat": 1700000000})
    spaced = json.dumps({"endpoint": "cell-4.example.momentohq.com", "api_key": inner}, indent=2)
    token = base64.b64encode(spaced.encode()).decode()
    body = json.loads(cli("inspect", token, "-o", "json").stdout)
    assert body["kind"] == "v1-api-key-or-disposable-token"
    derived = {
        "cache": "cache.cell-4.example.momentohq.com",
        "control": "control.cell-4.example.momentohq.com",
        "token": "token.cell-4.example.momentohq.com",
    }
    assert body["endpoints"] == {"pythonSdk": derived, "jsSdk": derived}
    assert body["status"] == "no expiry"
    assert body["issuedAtIso"] == "2023-11-14T22:13:20Z"
    assert body["permissions"] is None


def test_the_endpoints_shown_are_the_ones_the_python_sdk_derives(cli: Cli) -> None:
    """Checked against the real SDK: CredentialProvider reads the same credential."""
    from momento import CredentialProvider

    for endpoint in ("cell-4.example.momentohq.com", "127.0.0.1:5050"):
        token = make_envelope(endpoint, jwt({"exp": 2_000_000_000, "p": {}}))
        provider = CredentialProvider.from_disposable_token(token)
        body = json.loads(cli("inspect", token, "-o", "json").stdout)
        assert body["endpoints"]["pythonSdk"] == {
            "cache": provider.cache_endpoint,
            "control": provider.control_endpoint,
            "token": provider.token_endpoint,
        }
    legacy = jwt({"c": "cache.cell-7.example.com", "cp": "control.cell-7.example.com"})
    with pytest.warns(DeprecationWarning, match="from_string is deprecated"):
        provider = CredentialProvider.from_string(legacy)
    body = json.loads(cli("inspect", legacy, "-o", "json").stdout)
    assert body["endpoints"]["pythonSdk"] == {
        "cache": provider.cache_endpoint,
        "control": provider.control_endpoint,
        "token": provider.token_endpoint,
    }


def test_v2_key(cli: Cli, emulator: Emulator) -> None:
    body = json.loads(cli("inspect", emulator.issue_api_key(expires_in=3600), "-o", "json").stdout)
    assert body["kind"] == "v2-api-key"
    assert body["endpoint"] is None
    assert body["claims"]["t"] == "g"
    assert body["status"] == "valid"


def test_the_emulators_api_key_is_a_super_user_as_can_and_the_emulator_treat_it(
    cli: Cli, emulator: Emulator
) -> None:
    key = emulator.issue_api_key(expires_in=3600)
    assert json.loads(cli("inspect", key, "-o", "json").stdout)["superUser"] is True
    assert "super user (everything)" in cli("inspect", key).stdout
    allowed = cli("can", "-", "invoke", "media", "resize-1", input=key)
    assert allowed.exit_code == 0, allowed.stderr
    # A v2 key that another issuer signed says nothing of its grant: not a super user.
    other = jwtcodec.sign_hs256({"t": "g", "iss": "someone-else"}, b"s" * 32)
    assert json.loads(cli("inspect", other, "-o", "json").stdout)["superUser"] is False


def test_legacy_key(cli: Cli) -> None:
    token = jwt({"c": "cache.cell-7.example.com", "cp": "control.cell-7.example.com", "sub": "x"})
    body = json.loads(cli("inspect", token, "-o", "json").stdout)
    assert body["kind"] == "legacy-api-key"
    assert body["endpoint"] == "cell-7.example.com"
    assert body["endpoints"] == {
        # Python: token = "token." + c; JS (decodeAuthToken): token = c. Both dial c and cp.
        "pythonSdk": {
            "cache": "cache.cell-7.example.com",
            "control": "control.cell-7.example.com",
            "token": "token.cache.cell-7.example.com",
        },
        "jsSdk": {
            "cache": "cache.cell-7.example.com",
            "control": "control.cell-7.example.com",
            "token": "cache.cell-7.example.com",
        },
    }
    assert body["claims"] == {"c": "cache.cell-7.example.com", "cp": "control.cell-7.example.com"}
    fields = labelled(cli("inspect", token).stdout)
    assert fields["cache (SDKs)"] == "cache.cell-7.example.com"
    assert fields["token (Python SDK)"] == "token.cache.cell-7.example.com"
    assert fields["token (JS SDK)"] == "cache.cell-7.example.com"
    assert fields["via"] == "TLS, port 443"
    assert "note" not in fields


def test_bare_jwt_shows_every_claim(cli: Cli) -> None:
    body = json.loads(
        cli("inspect", jwt({"exp": 1, "aud": ["a", "b"], "nested": {"x": 1}}), "-o", "json").stdout
    )
    assert body["kind"] == "jwt"
    assert body["status"] == "expired"
    assert body["claims"] == {"aud": ["a", "b"], "nested": {"x": 1}}


def test_super_user_grant_is_named(cli: Cli) -> None:
    envelope = make_envelope("e.example.com", jwt({"p": {"superUser": "SuperUser"}}))
    assert labelled(cli("inspect", envelope).stdout)["Permissions"] == "super user (everything)"


def test_unknown_grant_shape_is_shown_raw(cli: Cli) -> None:
    envelope = make_envelope("e.example.com", jwt({"p": {"explicit": {"permissions": [{"x": 1}]}}}))
    body = json.loads(cli("inspect", envelope, "-o", "json").stdout)
    assert body["permissions"] is None
    assert body["claims"]["p"] == {"explicit": {"permissions": [{"x": 1}]}}


@pytest.mark.parametrize("wrap", ["  {}\n", "Bearer {}", "bearer   {} \t"])
def test_white_space_and_bearer_prefix_are_ignored(cli: Cli, emulator: Emulator, wrap: str) -> None:
    token = minted(emulator)
    assert cli("inspect", wrap.format(token)).exit_code == 0


def test_reads_stdin_with_dash_or_when_piped(cli: Cli, emulator: Emulator) -> None:
    token = minted(emulator)
    assert "disposable token" in cli("inspect", "-", input=token + "\n").stdout
    assert "disposable token" in cli("inspect", input=token).stdout


def test_reads_an_environment_variable(
    cli: Cli, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", minted(emulator))
    assert cli("inspect", "--env", "TOKEN").exit_code == 0
    result = cli("inspect", "--env", "NOPE")
    assert result.exit_code == 2
    assert "environment variable NOPE is not set" in result.stderr


def test_token_and_env_together_is_a_usage_error(cli: Cli, emulator: Emulator) -> None:
    result = cli("inspect", "x", "--env", "HOME")
    assert result.exit_code == 2


# -- --check ----------------------------------------------------------------------------------


def test_check_passes_a_valid_token_quietly(cli: Cli, emulator: Emulator) -> None:
    result = cli("inspect", minted(emulator), "--check", "--quiet")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_check_fails_an_expired_token_with_exit_6(cli: Cli, emulator: Emulator) -> None:
    token = minted(emulator, lifetime=1)
    time.sleep(1.1)
    result = cli("inspect", token, "--check")
    assert result.exit_code == 6
    assert "expired" in result.stderr


def test_check_fails_below_min_ttl(cli: Cli, emulator: Emulator) -> None:
    token = minted(emulator, "chat-reader")  # 1h
    assert cli("inspect", token, "--check", "--min-ttl", "50m", "-q").exit_code == 0
    result = cli("inspect", token, "--check", "--min-ttl", "2h")
    assert result.exit_code == 6
    assert "less than --min-ttl 2h" in result.stderr


@pytest.mark.parametrize("quiet", ["--quiet", "-q"])
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--check", "--min-ttl", "2h"], 6),  # below --min-ttl
        (["--check", "--require-expiry"], 0),
        (["--env", "UNSET_VARIABLE"], 2),  # the README's `|| TOKEN=$(mint ...)` on a first run
    ],
)
def test_quiet_prints_nothing_whatever_the_outcome(
    cli: Cli,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    quiet: str,
    args: list[str],
    code: int,
) -> None:
    from tvmcli.cli import fast

    token = minted(emulator, "chat-reader")  # 1h
    monkeypatch.setenv("TOKEN", token)
    argv = ["inspect", *(["--env", "TOKEN"] if "--env" not in args else []), *args, quiet]
    result = cli(*argv)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", "")
    assert fast.run(argv) == code
    assert capsys.readouterr() == ("", "")


def test_quiet_still_reports_a_mistake_in_the_command_line(cli: Cli, emulator: Emulator) -> None:
    result = cli("inspect", minted(emulator), "--check", "--min-ttl", "soon", "-q")
    assert result.exit_code == 2
    assert "--min-ttl" in result.stderr


def test_no_expiry_passes_check_unless_expiry_is_required(cli: Cli) -> None:
    forever = jwt({"t": "g"})
    assert cli("inspect", forever, "--check", "-q").exit_code == 0
    assert cli("inspect", forever, "--check", "--require-expiry", "-q").exit_code == 6


def test_check_without_quiet_still_prints_the_description(cli: Cli, emulator: Emulator) -> None:
    result = cli("inspect", minted(emulator), "--check")
    assert result.exit_code == 0
    assert "disposable token" in result.stdout


# -- bad input --------------------------------------------------------------------------------

BAD = {
    "empty": ("", "input is empty"),
    "white space only": (" \n\t ", "input is empty"),
    "not base64": ("not*base64!", "neither a JWT nor base64"),
    "base64 of non-JSON": (base64.b64encode(b"hello world").decode(), "not JSON"),
    "base64 of a JSON list": (base64.b64encode(b"[1]").decode(), "not an object"),
    "JSON without the fields": (base64.b64encode(b'{"endpoint": "x"}').decode(), "lacks 'api_key'"),
    "JWT with two segments": ("eyJhbGciOiJIUzI1NiJ9.e30", "3 dot-separated segments, this has 2"),
    "JWT with four segments": ("a.b.c.d", "this has 4"),
    "JWT with bad base64": ("eyJhbGciOiJIUzI1NiJ9.e*30.sig", "not base64url"),
    "JWT payload not JSON": ("eyJhbGciOiJIUzI1NiJ9.aGVsbG8.sig", "payload is not JSON"),
    "over 64 KiB": ("a" * (64 * 1024 + 1), "over 64 KiB"),
    "v1 envelope whose api_key is not a JWT": (
        base64.b64encode(b'{"endpoint": "cell-1.example.com", "api_key": "nope"}').decode(),
        "the api_key inside is not a JWT",
    ),
    "envelope JSON nested 5000 deep": (
        base64.b64encode(b'{"a":' * 5000 + b"1" + b"}" * 5000).decode(),
        "nested more than 64 levels deep",
    ),
    "JWT payload nested 100 deep": (
        "eyJhbGciOiJIUzI1NiJ9."
        + jwtcodec.b64url_encode(b'{"a":' + b"[" * 100 + b"]" * 100 + b"}")
        + ".c2ln",
        "nested more than 64 levels deep",
    ),
    "JWT header nested 20000 deep": (
        jwtcodec.b64url_encode(b"[" * 20000 + b"]" * 20000) + ".e30.c2ln",
        "nested more than 64 levels deep",
    ),
    "a 5000-digit exp": (
        "eyJhbGciOiJIUzI1NiJ9." + jwtcodec.b64url_encode(b'{"exp":' + b"9" * 5000 + b"}") + ".c2ln",
        "a number too long to read",
    ),
    "a 5000-digit number in the envelope": (
        base64.b64encode(
            b'{"endpoint": "e", "api_key": "a.b.c", "n": ' + b"9" * 5000 + b"}"
        ).decode(),
        "a number too long to read",
    ),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_input_is_exit_2_with_one_line(cli: Cli, text: str, message: str) -> None:
    result = cli("inspect", "-", input=text)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_input_on_the_fast_path_is_exit_2_with_one_line(
    text: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console script's path (no Typer, no handle_errors around it) must not crash either."""
    from tvmcli.cli import fast

    monkeypatch.setenv("TOKEN", text)
    code = fast.run(["inspect", "--env", "TOKEN", "--check"])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_a_broken_envelope_fails_check_instead_of_passing_as_eternal(cli: Cli) -> None:
    broken = base64.b64encode(b'{"endpoint": "cell-1.example.com", "api_key": "nope"}').decode()
    result = cli("inspect", broken, "--check")
    assert result.exit_code == 2
    assert "never" not in result.stdout + result.stderr
    assert "no expiry" not in result.stdout + result.stderr


def test_non_utf8_bytes_are_exit_2(cli: Cli) -> None:
    result = cli("inspect", input=b"\xff\xfe\x00abc")
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


def test_unknown_output_is_a_usage_error(cli: Cli, emulator: Emulator) -> None:
    assert cli("inspect", minted(emulator), "-o", "yaml").exit_code == 2


def test_inspect_loads_neither_grpc_nor_the_sdk_nor_typer() -> None:
    import subprocess
    import sys

    token = make_envelope("e.example.com", jwt({"exp": 2_000_000_000}))
    code = (
        "import sys\n"
        f"sys.argv = ['momento-tvm', 'inspect', {token!r}, '--check', '-q']\n"
        "from tvmcli.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in ('grpc', 'momento', 'momento_wire_types', 'typer', 'rich')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


@pytest.mark.parametrize("exp", [-5, "1", True, 1e30, None, [1]])
def test_an_exp_that_is_no_time_is_never_taken_for_no_expiry(cli: Cli, exp: object) -> None:
    """Issue 22, 6: `inspect --check` passed a token whose exp was present but unusable,
    showing "no expiry". Only a missing exp means no expiry."""
    inner = jwt({"sub": "ops", "iat": 1700000000, "exp": exp})
    token = make_envelope("cell-4.example.momentohq.com", inner)
    checked = cli("inspect", token, "--check")
    assert checked.exit_code == 6, checked.stderr
    assert "exp claim is not a time" in checked.stderr
    assert "no expiry" not in checked.stdout + checked.stderr
    assert "unusable (see Claim exp)" in checked.stdout  # what --check shows before failing
    assert "never" not in checked.stdout
    as_json = cli("inspect", token, "-o", "json", "--check")
    assert json.loads(as_json.stdout)["status"] == "unusable expiry"
    plain = cli("inspect", token)  # bad input without --check: exit 2, nothing on stdout
    assert (plain.exit_code, plain.stdout) == (2, "")
    assert "exp claim is not a time" in plain.stderr
    missing = make_envelope("cell-4.example.momentohq.com", jwt({"sub": "ops"}))
    assert cli("inspect", missing, "--check").exit_code == 0  # no exp at all: no expiry


def test_a_credential_given_as_an_argument_warns_once_unless_quiet(
    cli: Cli,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 22, 9: an argument is visible in /proc/PID/cmdline; --env and stdin are not."""
    from tvmcli.cli import fast

    token = minted(emulator)
    warning = "a credential given as an argument is visible to other local users"
    by_argument = cli("inspect", token)
    assert by_argument.stderr.count(warning) == 1
    assert token not in by_argument.stderr
    assert warning not in cli("inspect", token, "--quiet").stderr
    assert warning not in cli("inspect", input=token).stderr
    monkeypatch.setenv("TOKEN", token)
    assert warning not in cli("inspect", "--env", "TOKEN").stderr
    assert warning not in cli("inspect", "not-a-credential").stderr  # bad input: one line only
    assert fast.run(["inspect", token]) == 0  # the console script's own path warns the same
    assert capsys.readouterr().err.count(warning) == 1
