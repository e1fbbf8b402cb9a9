"""Fuzzing the inputs a stranger controls: credentials given to `inspect` (through the
Typer-free fast path the console script takes, and through `inspect_body.main`, which the
Typer command runs) and profiles files (`parse_config` on generated TOML).

Every input must end in a documented exit code, 0, 2, 3 or 6 (never 1, an internal error), with
no traceback, one line per error and nothing on the terminal that could drive it. The number of
inputs each test ran is printed in pytest's terminal summary (conftest.py).
Budget: about 2,700 inputs in well under a minute.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvmcli.cli import fast, inspect_body, output
from tvmcli.config.file import parse_config
from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import make_envelope
from tvmcli.errors import ConfigError
from tvmcli.permissions.roles import ROLE_ALIASES

ALLOWED_EXIT_CODES = {0, 2, 3, 6}
COUNTS: collections.Counter[str] = collections.Counter()
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- hostile values ------------------------------------------------------------------------------


class HugeInt(int):
    """An integer of many digits whose repr Hypothesis can print (int's own refuses)."""

    digits = 0

    @classmethod
    def of(cls, digits: int) -> HugeInt:
        number = cls(10 ** (digits - 1))
        number.digits = digits
        return number

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from("\x1b\x07\n\t\u202e"),
    max_size=12,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([4299, 4300, 4301, 6000]).map(HugeInt.of)  # Python's 4300-digit limit
    | st.floats()
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


deep = st.builds(nested, st.integers(0, 150), json_values)


def raw_json(value: Any) -> bytes:
    """JSON as a stranger may write it: huge integers and NaN included."""
    import sys

    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # let the generator write what a reader must refuse
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    finally:
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(limit)


@st.composite
def credentials(draw: st.DrawFn) -> str:
    """Envelopes, JWTs and JWTs inside envelopes, with hostile claims, endpoints and shapes."""
    claims = draw(st.dictionaries(text, json_values | deep, max_size=6))
    for name in draw(st.lists(st.sampled_from(["exp", "iat", "id", "sub", "p", "t", "c", "cp"]))):
        claims[name] = draw(json_values | deep)
    header = draw(st.sampled_from([{"alg": "HS256"}, {"alg": "none"}, {}]))
    segments = [jwtcodec.b64url_encode(raw_json(part)) for part in (header, claims)]
    jwt = ".".join([*segments, draw(st.sampled_from(["", "c2ln", "!!"]))])
    shape = draw(st.sampled_from(["jwt", "envelope", "raw-envelope", "bare-json"]))
    if shape == "jwt":
        return jwt
    endpoint = draw(text | st.sampled_from(["cell-1.example.com", "127.0.0.1:5050", "a:b:c"]))
    if shape == "envelope":
        return make_envelope(endpoint, jwt)
    if shape == "raw-envelope":
        body = draw(st.dictionaries(text, json_values | deep, max_size=3))
        body.update({"endpoint": endpoint, "api_key": draw(st.sampled_from([jwt, "x", ""]))})
        return base64.b64encode(raw_json(body)).decode()
    return base64.b64encode(raw_json(draw(json_values | deep))).decode()


flags = st.lists(
    st.sampled_from(
        [["--check"], ["--require-expiry"], ["-q"], ["-o", "json"], ["--min-ttl", "5m"]]
    ),
    max_size=3,
    unique_by=lambda flag: flag[0],
).map(
    # --min-ttl goes with --check (alone it is a usage error, which Typer reports)
    lambda chosen: (
        [part for flag in chosen for part in flag]
        + (["--check"] if ["--min-ttl", "5m"] in chosen and ["--check"] not in chosen else [])
    )
)


def assert_clean(code: int | None, stdout: str, stderr: str) -> None:
    assert code in ALLOWED_EXIT_CODES, (code, stderr)
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    if code == 2:
        assert stdout == ""
        assert len(stderr.splitlines()) <= 1
    for shown in (stdout, stderr):
        assert "\x1b" not in shown
        assert "\x07" not in shown


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        yield stdout, stderr


# -- inspect --------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=800)
@given(credentials(), flags)
def test_inspect_on_the_fast_path_survives_hostile_credentials(
    credential: str, options: list[str]
) -> None:
    """The console script's own path: argv parsed without Typer, the credential from --env."""
    COUNTS["inspect fast path"] += 1
    os.environ["TVM_FUZZ_TOKEN"] = credential.replace("\x00", "")  # env cannot hold NUL
    try:
        with captured() as (stdout, stderr):
            code = fast.run(["inspect", "--env", "TVM_FUZZ_TOKEN", *options])
    finally:
        del os.environ["TVM_FUZZ_TOKEN"]
    assert_clean(code, stdout.getvalue(), stderr.getvalue())
    if code == 0 and "-o" in options and "-q" not in options:
        json.loads(stdout.getvalue())


@settings(FUZZ, max_examples=600)
@given(credentials().map(str.encode) | st.binary(max_size=300), flags)
def test_inspect_main_survives_hostile_bytes(data: bytes, options: list[str]) -> None:
    """What the Typer command runs, fed raw bytes on stdin."""
    COUNTS["inspect main"] += 1
    parsed = inspect_body.parse_fast(["-", *options])
    assert parsed is not None
    with captured() as (stdout, stderr):
        code = inspect_body.main(
            parsed, stdin=io.BytesIO(data), stdin_is_terminal=False, environ={}
        )
    assert_clean(code, stdout.getvalue(), stderr.getvalue())


# -- the profiles loader --------------------------------------------------------------------------

toml_keys = text.filter(bool) | st.sampled_from(
    ["profiles", "defaults", "server", "permissions", "role", "cache", "key", "users", "groups"]
)
toml_scalars = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.booleans()
    | st.sampled_from(["15m", "0", "25h", "26h", "*", "", "1h30m", "-1"])
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(toml_keys, inner, max_size=3),
    max_leaves=10,
)
roles = st.sampled_from([*ROLE_ALIASES, "owner", "", "READ-ONLY"])
statement = st.fixed_dictionaries(
    {"role": roles | toml_scalars, "cache": st.sampled_from(["c", "*", ""]) | toml_scalars},
    optional={
        name: st.sampled_from(["k", "*", "room-", ""]) | toml_scalars
        for name in ("key", "key_prefix", "topic", "topic_prefix", "function", "function_prefix")
    },
)
profile = st.fixed_dictionaries(
    {},
    optional={
        "description": toml_scalars,
        "expires_in": toml_scalars,
        "token_id": toml_scalars | st.just("x" * 65),
        "cache": toml_scalars,
        "permissions": st.lists(statement | toml_values, max_size=22) | toml_values,
        "extra": toml_values,
    },
)
server = st.fixed_dictionaries(
    {},
    optional={
        "auth": st.sampled_from(["open", "bearer", "basic", "jwt", "kerberos"]) | toml_scalars,
        "port": toml_scalars,
        "workers": toml_scalars,
        "timeout": toml_scalars,
        "mint_queue": toml_scalars,
        "min_ttl": toml_scalars,
        "cors_origins": toml_values,
        "profiles": toml_values,
        "default_profile": toml_scalars,
        "users": st.dictionaries(
            toml_keys,
            st.fixed_dictionaries(
                {},
                optional={
                    "password_hash": st.sampled_from(["scrypt$16384$8$1$...", "x"]) | toml_scalars,
                    "password_env": toml_scalars,
                    "groups": toml_values,
                },
            ),
            max_size=2,
        ),
        "groups": st.dictionaries(toml_keys, toml_values, max_size=2),
        "jwt": toml_values,
        "bearer": toml_values,
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "defaults": st.fixed_dictionaries({}, optional={"expires_in": toml_scalars}) | toml_values,
        "profiles": st.dictionaries(
            st.sampled_from(["chat-reader", "a", "-bad", "x" * 70]) | toml_keys,
            profile | toml_values,
            max_size=3,
        ),
        "server": server | toml_values,
        "stray": toml_values,
    },
)


def toml(value: Any) -> str:
    """One-line TOML for a generated value (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


def document_text(document: dict[str, Any]) -> str:
    return "".join(f"{toml(key)} = {toml(value)}\n" for key, value in document.items())


def load(text_: str) -> int:
    """The exit code `profiles validate` would give; anything but ConfigError propagates."""
    try:
        parse_config(text_, Path("fuzz.toml"))
    except ConfigError as error:
        caught = error
    else:
        return 0
    assert caught.exit_code == 3
    with captured() as (_, stderr):
        output.error(caught)  # as the CLI shows it: names from the file are escaped
    assert "\x1b" not in stderr.getvalue()
    assert "\x07" not in stderr.getvalue()
    return 3


@settings(FUZZ, max_examples=900)
@given(documents)
def test_the_profiles_loader_survives_generated_files(document: dict[str, Any]) -> None:
    COUNTS["profiles structured"] += 1
    assert load(document_text(document)) in ALLOWED_EXIT_CODES


@settings(FUZZ, max_examples=400)
@given(
    st.lists(
        st.sampled_from(
            [
                "[profiles.a]",
                "[server]",
                "[[x]]",
                "permissions = [",
                "{ role = ",
                '"',
                "'",
                "]",
                "}",
                "=",
                "\n",
                "expires_in = ",
                "99999999999999999999",
                "1e400",
                "inf",
                "#",
                ".",
                "[server.users.u]",
                'password_hash = "',
                "\\u0000",
                "\x00",
                "\x1b",
            ]
        )
        | st.text(max_size=5),
        max_size=30,
    ).map("".join)
)
def test_the_profiles_loader_survives_broken_text(text_: str) -> None:
    COUNTS["profiles text"] += 1
    assert load(text_) in ALLOWED_EXIT_CODES
