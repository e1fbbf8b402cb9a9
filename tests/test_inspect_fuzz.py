"""Property tests: whatever `inspect` is fed, it answers 0 or 2 and never raises.

Runs through `inspect_body.main`, the function both the fast path and the Typer command use.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tvmcli.cli import inspect_body
from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import make_envelope

SEED_TOKEN = make_envelope(
    "cell-1.example.momentohq.com",
    jwtcodec.sign_hs256(
        {
            "exp": 2_000_000_000,
            "iat": 1_700_000_000,
            "id": "ci",
            "p": {
                "explicit": {
                    "permissions": [
                        {
                            "cache_permissions": {
                                "role": "CacheReadOnly",
                                "all_caches": {},
                                "all_items": {},
                            }
                        }
                    ]
                }
            },
        },
        b"k" * 32,
    ),
)
SEED_JWT = jwtcodec.sign_hs256({"t": "g", "sub": "x"}, b"k" * 32)


def inspect_bytes(data: bytes, *args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    options = inspect_body.parse_fast(["-", *args])
    assert options is not None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = inspect_body.main(
            options, stdin=io.BytesIO(data), stdin_is_terminal=False, environ={}
        )
    return code, stdout.getvalue(), stderr.getvalue()


def assert_clean(code: int, stdout: str, stderr: str) -> None:
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stderr
    if code == 2:
        assert stdout == ""
        assert stderr.startswith("error: ")
        assert len(stderr.strip().splitlines()) == 1


def mutate(token: str, data: st.DataObject) -> str:
    chars = list(token)
    for _ in range(data.draw(st.integers(1, 5))):
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        position = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        if action == "flip" and chars:
            chars[position] = data.draw(st.sampled_from('A+/=._-{}"x \n\x00é'))
        elif action == "drop" and chars:
            del chars[position]
        elif action == "insert":
            chars.insert(position, data.draw(st.characters()))
        else:
            chars = chars[:position]
    return "".join(chars)


FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_random_text(text: str) -> None:
    assert_clean(*inspect_bytes(text.encode("utf-8", "surrogatepass")))


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    assert_clean(*inspect_bytes(data))


@FUZZ
@given(st.data())
def test_mutations_of_real_tokens(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from([SEED_TOKEN, SEED_JWT]))
    assert_clean(*inspect_bytes(mutate(seed, data).encode("utf-8", "surrogatepass"), "-o", "json"))


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
@example({"exp": None})  # present but no time: exit 2
@example({"exp": "1"})
@example({"exp": 1_700_000_000, "x": [None]})  # a time: exit 0
def test_arbitrary_claims_inside_a_valid_envelope(claims: dict[str, object]) -> None:
    token = make_envelope("e.example.com", jwtcodec.sign_hs256(claims, b"k" * 32))
    # Only a missing exp means no expiry; one that is present but no time (null, a string,
    # true, out of years 1970 to 9999) is exit 2, with nothing on stdout (issue 22, 6).
    exp = claims.get("exp")
    usable = (
        isinstance(exp, (int, float))
        and not isinstance(exp, bool)
        and math.isfinite(exp)
        and 0 <= int(exp) <= 253402300799
    )
    for fmt in ("text", "json"):
        code, stdout, stderr = inspect_bytes(token.encode(), "-o", fmt)
        if "exp" in claims and not usable:
            assert code == 2, stderr
            assert "exp claim is not a time" in stderr
            assert stdout == ""
            continue
        assert code == 0, stderr
        if fmt == "json":
            json.loads(stdout)


@pytest.mark.parametrize(
    "exp", ["Infinity", "-Infinity", "NaN", "1e300", "-1e300", "99999999999999999999"]
)
def test_absurd_times_are_survived(exp: str) -> None:
    payload = jwtcodec.b64url_encode(f'{{"exp": {exp}, "iat": {exp}}}'.encode())
    token = f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"
    for fmt in ("text", "json"):
        # Shown raw, and never taken for "no expiry" (issue 22, 6): 6 with --check, else 2.
        code, stdout, stderr = inspect_bytes(token.encode(), "-o", fmt, "--check")
        assert code == 6
        assert "exp claim is not a time" in stderr
        assert "Traceback" not in stderr
        assert "exp" in stdout
        assert inspect_bytes(token.encode(), "-o", fmt)[0] == 2
    assert inspect_bytes(token.encode(), "--check", "--require-expiry", "-q")[0] == 6


def test_envelope_from_base64_of_any_json_value() -> None:
    for value in (
        [],
        1,
        "s",
        None,
        {"endpoint": 1, "api_key": 2},
        {"endpoint": "", "api_key": "x"},
    ):
        data = base64.b64encode(json.dumps(value).encode())
        assert inspect_bytes(data)[0] == 2


CASES = [
    [SEED_TOKEN],
    [SEED_TOKEN, "-o", "json"],
    [SEED_JWT, "--check", "--require-expiry"],
    [SEED_TOKEN, "--check", "--min-ttl=100000h", "-q"],
    ["garbage!"],
]


@pytest.mark.parametrize("args", CASES, ids=range(len(CASES)))
def test_fast_path_and_typer_command_agree(args: list[str]) -> None:
    """The console script takes the Typer-free path; CliRunner the Typer command."""
    from typer.testing import CliRunner

    from tvmcli.cli.app import app

    assert inspect_body.parse_fast(args) is not None
    script = Path(sys.executable).parent / "momento-tvm"
    fast = subprocess.run(
        [str(script), "inspect", *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    typer_run = CliRunner().invoke(app, ["inspect", *args])

    def digits_blurred(text: str) -> str:  # the two runs are moments apart: "left" differs
        return re.sub(r"\d+", "N", text)

    assert (fast.returncode, digits_blurred(fast.stdout), digits_blurred(fast.stderr)) == (
        typer_run.exit_code,
        digits_blurred(typer_run.stdout),
        digits_blurred(typer_run.stderr),
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["a", "b"], ["--bogus"], ["-o"], ["--min-ttl", "soon"]]
)
def test_unusual_arguments_go_to_the_typer_command(args: list[str]) -> None:
    assert inspect_body.parse_fast(args) is None
