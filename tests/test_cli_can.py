"""`momento-tvm can`: every exit code, both token inputs, JSON, and --matrix on and off a
terminal. Tokens are minted by the real emulator over gRPC; the agreement with what the
emulator refuses is checked through Momento's own SDK."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from momento.errors import MomentoErrorCode
from typer.testing import Result

from tests.terminal import on_a_terminal
from tests.test_emulator_cache import client
from tests.test_emulator_topics import sync_client
from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import make_envelope, parse_credential
from tvmcli.emulator import Emulator

Cli = Callable[..., Result]
BIN = Path(sys.executable).parent


def can(cli: Cli, profiles: Path, *args: str, input: str | None = None) -> Result:
    return cli("can", "-c", str(profiles), *args, input=input)


@pytest.fixture
def minted(cli: Cli, profiles_file: Path, emulator_env: Emulator) -> Callable[[str], str]:
    """A token minted by the emulator for a profile, as `mint` prints it when piped."""

    def mint(profile: str) -> str:
        result = cli("mint", profile, "-c", str(profiles_file))
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip()

    return mint


# -- a profile ----------------------------------------------------------------------------------


def test_an_allowed_call_exits_0_naming_the_statement_in_words(
    cli: Cli, profiles_file: Path
) -> None:
    result = can(cli, profiles_file, "chat-reader", "subscribe", "chat", "room-1")
    assert result.exit_code == 0
    assert "Allowed  yes" in result.stdout
    assert "statement 1 allows subscribe-only on cache chat, every topic" in result.stdout
    assert result.stderr == ""
    keyed = can(cli, profiles_file, "chat-writer", "get", "chat", "user-42")
    assert keyed.exit_code == 0
    assert 'statement 2 allows read-write on cache chat, key prefix "user-"' in keyed.stdout


def test_a_denied_call_exits_4_with_why_the_closest_statements_and_a_hint(
    cli: Cli, profiles_file: Path
) -> None:
    result = can(cli, profiles_file, "chat-reader", "publish", "chat", "room-1")
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    assert "Allowed  no" in lines
    assert (
        "Reason   statement 1 allows subscribe-only here; publishing needs publish-subscribe "
        "or publish-only" in lines
    )
    assert "Closest  statement 1: subscribe-only on cache chat, every topic" in lines
    hint = [line for line in lines if line.startswith("Hint")]
    assert hint == [
        'Hint     a statement that allows it: { role = "publish-subscribe", cache = "chat", '
        'topic = "*" }'
    ]


def test_a_key_outside_the_prefix_names_the_prefix_statement_as_closest(
    cli: Cli, profiles_file: Path
) -> None:
    result = can(cli, profiles_file, "chat-writer", "set-if-absent", "chat", "other")
    assert result.exit_code == 4
    assert 'Closest  statement 2: read-write on cache chat, key prefix "user-"' in result.stdout
    assert 'key "other" in cache chat is not covered' in result.stdout


def test_json_has_the_documented_fields(cli: Cli, profiles_file: Path) -> None:
    allowed = can(cli, profiles_file, "chat-writer", "publish", "chat", "room-9", "-o", "json")
    assert allowed.exit_code == 0
    answer = json.loads(allowed.stdout)
    assert answer == {
        "allowed": True,
        "action": "publish",
        "cache": "chat",
        "name": "room-9",
        "statement": 1,
        "reason": 'statement 1 allows publish-subscribe on cache chat, topic prefix "room-"',
        "closest": [],
        "hint": None,
    }
    denied = can(cli, profiles_file, "chat-writer", "invoke", "chat", "resize", "--output", "json")
    assert denied.exit_code == 4
    answer = json.loads(denied.stdout)
    assert answer["allowed"] is False
    assert answer["statement"] is None
    assert answer["reason"].startswith("no statement grants functions")
    assert answer["hint"] == '{ role = "invoke", cache = "chat", function = "resize" }'


def test_an_empty_key_is_a_key(cli: Cli, write_profiles: Callable[[str], Path]) -> None:
    profiles = write_profiles(
        '[profiles.all]\npermissions = [{ role = "read-only", cache = "*" }]\n'
    )
    result = can(cli, profiles, "all", "get", "anything", "", "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["name"] == ""


def test_an_unknown_action_exits_2_with_a_suggestion(cli: Cli, profiles_file: Path) -> None:
    result = can(cli, profiles_file, "chat-reader", "publsh", "chat", "room-1")
    assert result.exit_code == 2
    assert "unknown action 'publsh'" in result.stderr
    assert "Did you mean 'publish'?" in result.stderr
    assert "set-if-absent" in result.stderr
    assert result.stdout == ""


def test_an_unknown_profile_exits_3_with_a_suggestion(cli: Cli, profiles_file: Path) -> None:
    result = can(cli, profiles_file, "chat-readr", "subscribe", "chat", "room-1")
    assert result.exit_code == 3
    assert "no profile named 'chat-readr'" in result.stderr
    assert "Did you mean 'chat-reader'?" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chat-reader",), "expected ACTION CACHE NAME after the profile, got 0 arguments"),
        (("chat-reader", "zzz", "chat", "k"), "hint: Actions: get, set, delete, set-if-absent"),
        (("chat-reader", "get", "chat"), "got 2 arguments"),
        ((), "name a profile, '-' for a token on stdin, or --token-env NAME"),
        (("chat-reader", "get", "", "k"), "the cache name is empty"),
        (("chat-reader", "get", "chat", "k", "--key", "k"), "--key goes with --matrix"),
        (("chat-reader", "--matrix", "--key", "k"), "--matrix needs at least one --cache"),
        (("chat-reader", "--matrix", "--cache", "chat"), "at least one --key, --topic or"),
        (("chat-reader", "get", "chat", "k", "--matrix", "--cache", "c"), "takes no ACTION"),
        (("chat-reader", "get", "chat", "k", "-o", "yaml"), "--output must be one of"),
        (("-", "get", "chat", "k", "--token-env", "T"), "'-' (a token on stdin) or --token-env"),
    ],
)
def test_usage_mistakes_exit_2(
    cli: Cli, profiles_file: Path, args: tuple[str, ...], message: str
) -> None:
    result = can(cli, profiles_file, *args, input="")
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_a_credential_as_an_argument_is_refused_and_not_repeated(
    cli: Cli, profiles_file: Path, minted: Callable[[str], str]
) -> None:
    token = minted("chat-reader")
    result = can(cli, profiles_file, token, "subscribe", "chat", "room-1")
    assert result.exit_code == 2
    assert "a credential is never taken as an argument" in result.stderr
    assert "momento-tvm can - ACTION CACHE NAME < token.txt" in result.stderr
    inner = parse_credential(token).secret
    for secret in (token, inner, inner.split(".")[2]):
        assert secret not in result.stderr + result.stdout


# -- a token: stdin and --token-env -----------------------------------------------------------


def test_a_token_on_stdin_is_judged_by_its_own_grant(
    cli: Cli, profiles_file: Path, minted: Callable[[str], str]
) -> None:
    token = minted("chat-writer")
    allowed = can(cli, profiles_file, "-", "publish", "chat", "room-1", input=token + "\n")
    assert allowed.exit_code == 0, allowed.stderr
    assert "Grant    the token on stdin" in allowed.stdout
    assert 'statement 1 allows publish-subscribe on cache chat, topic prefix "room-"' in (
        allowed.stdout
    )
    denied = can(cli, profiles_file, "-", "delete", "other", "user-1", input=token)
    assert denied.exit_code == 4
    assert "no statement covers cache other" in denied.stdout
    inner = parse_credential(token).secret
    for shown in (allowed, denied):
        assert token not in shown.stdout + shown.stderr
        assert inner.split(".")[2] not in shown.stdout + shown.stderr


def test_a_token_in_an_environment_variable(
    cli: Cli,
    profiles_file: Path,
    minted: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKEN", minted("chat-reader"))
    denied = can(cli, profiles_file, "--token-env", "TOKEN", "publish", "chat", "room-1")
    assert denied.exit_code == 4
    assert "Grant    the token in $TOKEN" in denied.stdout
    assert "Closest  statement 1: subscribe-only on cache chat, every topic" in denied.stdout
    # PROFILE is left out with --token-env
    extra = can(cli, profiles_file, "chat-reader", "publish", "chat", "x", "--token-env", "TOKEN")
    assert extra.exit_code == 2
    assert "with --token-env, leave out PROFILE" in extra.stderr
    missing = can(cli, profiles_file, "--token-env", "NOT_SET", "get", "chat", "k")
    assert missing.exit_code == 2
    assert "environment variable NOT_SET is not set or is empty" in missing.stderr


def test_the_emulators_api_key_may_do_everything(
    cli: Cli, profiles_file: Path, emulator_env: Emulator
) -> None:
    for action, name in (("increment", "k"), ("publish", "t"), ("invoke", "f")):
        result = can(cli, profiles_file, "--token-env", "MOMENTO_API_KEY", action, "any", name)
        assert result.exit_code == 0, result.stderr
        assert "super-user permissions (an API key) allow every call" in result.stdout


def unsigned_jwt(claims: dict[str, object]) -> str:
    def part(value: object) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "credential",
    [
        # a v2 key that the emulator did not issue (Momento's own): its grant is not published
        unsigned_jwt({"t": "g", "id": "x", "iss": "momento"}),
        # a v1 key / a token Momento minted: an envelope around a JWT without the emulator's `p`
        make_envelope("cell-1.prod.a.momentohq.com", unsigned_jwt({"sub": "x", "exp": 1})),
    ],
    ids=["v2-key", "momento-token"],
)
def test_a_credential_whose_grant_cannot_be_read_offline_exits_2(
    cli: Cli, profiles_file: Path, credential: str
) -> None:
    result = can(cli, profiles_file, "-", "get", "chat", "k", input=credential)
    assert result.exit_code == 2
    assert "does not say what it may do offline" in result.stderr
    assert "Name the profile that minted it instead: momento-tvm can PROFILE" in result.stderr
    assert result.stdout == ""


def test_a_grant_that_is_not_a_permissions_message_exits_2(cli: Cli, profiles_file: Path) -> None:
    inner = jwtcodec.sign_hs256({"p": {"explicit": {"permissions": "all"}}}, b"s" * 32)
    envelope = make_envelope("127.0.0.1:1", inner)
    result = can(cli, profiles_file, "-", "get", "chat", "k", input=envelope)
    assert result.exit_code == 2
    assert "is not a Permissions message" in result.stderr


@pytest.mark.parametrize("text", ["", "not a token", "eyJhbGciOi.broken", "\xff"])
def test_a_malformed_token_exits_2(cli: Cli, profiles_file: Path, text: str) -> None:
    result = can(cli, profiles_file, "-", "get", "chat", "k", input=text)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_expired_token_is_judged_with_a_warning(
    cli: Cli, profiles_file: Path, emulator: Emulator
) -> None:
    claims = {"iss": "momento-tvm-emulator", "exp": 1, "p": {"superUser": "SuperUser"}}
    envelope = make_envelope(emulator.endpoint, jwtcodec.sign_hs256(claims, b"s" * 32))
    result = can(cli, profiles_file, "-", "get", "chat", "k", input=envelope)
    assert result.exit_code == 0
    assert "the token on stdin has expired: Momento refuses it" in result.stderr


# -- the emulator refuses with the same reason ---------------------------------------------------


def test_the_cli_and_the_emulator_give_the_same_reason(
    cli: Cli, profiles_file: Path, minted: Callable[[str], str], emulator: Emulator
) -> None:
    token = minted("chat-writer")
    answer = can(cli, profiles_file, "-", "increment", "chat", "stats", "-o", "json", input=token)
    assert answer.exit_code == 4
    reason = json.loads(answer.stdout)["reason"]
    with client(emulator, parse_credential(token).secret) as sdk:
        response = sdk.increment("chat", "stats")
    assert getattr(response, "error_code", None) is MomentoErrorCode.PERMISSION_ERROR
    details = response.inner_exception.transport_details.grpc.details  # type: ignore[union-attr]
    assert details == f"Insufficient permissions to perform an operation on a cache: {reason}"
    # and an allowed call is allowed by both
    assert can(cli, profiles_file, "-", "increment", "chat", "user-1", input=token).exit_code == 0
    with client(emulator, parse_credential(token).secret) as sdk:
        assert getattr(sdk.increment("chat", "user-1"), "value", None) == 1


def test_the_cli_and_the_emulator_give_the_same_reason_for_a_topic(
    cli: Cli, profiles_file: Path, minted: Callable[[str], str], emulator: Emulator
) -> None:
    token = minted("chat-reader")
    answer = can(cli, profiles_file, "-", "publish", "chat", "room-1", "-o", "json", input=token)
    assert answer.exit_code == 4
    reason = json.loads(answer.stdout)["reason"]
    with sync_client(emulator, parse_credential(token).secret) as topics:
        response = topics.publish("chat", "room-1", "hello")
    assert getattr(response, "error_code", None) is MomentoErrorCode.PERMISSION_ERROR
    details = response.inner_exception.transport_details.grpc.details  # type: ignore[union-attr]
    assert details == f"Insufficient permissions to perform an operation on a topic: {reason}"


# -- the matrix -----------------------------------------------------------------------------------

MATRIX = ("--matrix", "--cache", "chat", "--topic", "room-1", "--topic", "lobby", "--key", "user-1")


def test_the_matrix_piped_is_plain_tab_separated_and_exits_0(cli: Cli, profiles_file: Path) -> None:
    result = can(cli, profiles_file, "chat-writer", *MATRIX, "--key", "other")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "What profile chat-writer may do"
    assert lines[1] == "Cache\tKind\tName\tAction\tAllowed\tReason"
    rows = [line.split("\t") for line in lines[2:]]
    # every action that applies: 2 per topic, 5 per key
    assert len(rows) == 2 * 2 + 2 * 5
    verdicts = {(row[2], row[3]): row[4] for row in rows}
    assert verdicts[('"room-1"', "publish")] == "yes"
    assert verdicts[('"lobby"', "subscribe")] == "no"
    assert verdicts[('"user-1"', "set-if-absent")] == "yes"
    assert verdicts[('"other"', "get")] == "no"
    assert "\x1b[" not in result.stdout


def test_the_matrix_as_json(cli: Cli, profiles_file: Path) -> None:
    result = can(
        cli, profiles_file, "chat-reader", "--matrix", "--cache", "chat", "--cache", "media",
        "--topic", "room-1", "--function", "resize", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0
    answers = json.loads(result.stdout)
    assert [(a["cache"], a["action"], a["allowed"]) for a in answers] == [
        ("chat", "publish", False),
        ("chat", "subscribe", True),
        ("chat", "invoke", False),
        ("media", "publish", False),
        ("media", "subscribe", False),
        ("media", "invoke", False),
    ]
    assert set(answers[0]) == {"allowed", "action", "cache", "name", "statement", "reason"}


def test_the_matrix_on_a_terminal_is_a_table(profiles_file: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "TERM": "xterm"}
    code, screen = on_a_terminal(
        [str(BIN / "momento-tvm"), "can", "-c", str(profiles_file), "chat-writer", *MATRIX], env
    )
    assert code == 0, screen
    assert "What profile chat-writer may do" in screen
    assert "┏━" in screen  # Rich's box, not tabs
    assert '│ chat  │ topic │ "room-1" │ publish ' in screen
    assert "\t" not in screen
    assert "statement 1 allows publish-subscribe" in screen


def test_control_characters_in_a_name_cannot_drive_the_terminal(
    cli: Cli, profiles_file: Path
) -> None:
    result = can(cli, profiles_file, "chat-reader", "publish", "chat", "\x1b]0;owned\x07\u202e")
    assert result.exit_code == 4
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "\\u001b]0;owned\\u0007" in result.stdout


def test_a_token_needs_no_profiles_file(cli: Cli, emulator_env: Emulator) -> None:
    result = cli("can", "--token-env", "MOMENTO_API_KEY", "get", "any", "k")
    assert result.exit_code == 0, result.stderr
    without = cli("can", "chat-reader", "get", "any", "k")
    assert without.exit_code == 3
    assert "no profiles file" in without.stderr
