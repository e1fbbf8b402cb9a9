"""The body of `can` (Typer-free): whose grant, which calls, the evaluator's answers, shown.

The answer is data (stdout) whether the call is allowed or not; the exit code says which
(0 allowed, 4 denied). Usage mistakes, unreadable tokens and unknown profiles are errors on
stderr with their documented codes (2, 2, 3).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import time as now
from typing import Any, BinaryIO

from tvmcli.cli import output, steps
from tvmcli.errors import ExitCode, UsageError
from tvmcli.permissions.evaluator import (
    ACTIONS,
    Action,
    Decision,
    describe,
    parse_action,
    permits,
)
from tvmcli.permissions.roles import Resource

STDIN = "-"
OUTPUTS = ("text", "json")
_NAME_LABELS = {Resource.CACHE: "key", Resource.TOPIC: "topic", Resource.FUNCTION: "function"}


@dataclass(frozen=True)
class CanArgs:
    """Everything `can` takes, as Typer parsed it. `positional` holds the arguments given, in
    order: PROFILE (or '-') ACTION CACHE NAME, without PROFILE when --token-env is given."""

    positional: tuple[str, ...]
    token_env: str | None = None
    output: str = "text"
    matrix: bool = False
    caches: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    config: Path | None = None


@dataclass(frozen=True)
class Grant:
    """What is asked about: a profile's statements or a token's Permissions message."""

    subject: str  # "profile chat-reader", "the token on stdin", "the token in $TOKEN"
    grant: Any
    words: tuple[str, ...] = field(default=())  # statement n in words: words[n - 1]


@dataclass(frozen=True)
class Call:
    action: Action
    cache: str
    name: str


def run(args: CanArgs, *, stdin: BinaryIO, stdin_is_terminal: bool) -> int:
    """Answer; the exit code: 0 allowed (and always for --matrix), 4 denied."""
    if args.output not in OUTPUTS:
        raise UsageError(f"--output must be one of {', '.join(OUTPUTS)}, not {args.output!r}")
    who, rest = _who(args)
    calls = _matrix_calls(args, rest) if args.matrix else [_one_call(rest)]
    grant = _grant(who, args, stdin, stdin_is_terminal, os.environ)
    answers = [(call, permits(grant.grant, call.action, call.cache, call.name)) for call in calls]
    if args.matrix:
        _show_matrix(grant, answers, args.output)
        return int(ExitCode.OK)
    ((call, decision),) = answers
    _show_one(grant, call, decision, args.output)
    return int(ExitCode.OK if decision.allowed else ExitCode.AUTH)


# -- arguments ---------------------------------------------------------------------------------


def _who(args: CanArgs) -> tuple[str | None, tuple[str, ...]]:
    """(PROFILE or '-', or None with --token-env; the arguments after it)."""
    if args.token_env is not None:
        if args.positional[:1] == (STDIN,):
            raise UsageError("give '-' (a token on stdin) or --token-env NAME, not both")
        expected = 0 if args.matrix else 3
        if len(args.positional) > expected:
            raise UsageError(
                "with --token-env, leave out PROFILE: momento-tvm can --token-env NAME "
                + ("--matrix ..." if args.matrix else "ACTION CACHE NAME")
            )
        return None, args.positional
    if not args.positional:
        raise UsageError(
            "name a profile, '-' for a token on stdin, or --token-env NAME",
            hint="momento-tvm can chat-reader subscribe chat room-1",
        )
    return args.positional[0], args.positional[1:]


def _one_call(rest: Sequence[str]) -> Call:
    if len(rest) != 3:
        raise UsageError(
            f"expected ACTION CACHE NAME after the profile, got {len(rest)} argument"
            + ("s" if len(rest) != 1 else ""),
            hint="momento-tvm can chat-writer get chat user-42 (or --matrix with --cache ...)",
        )
    action, cache, name = rest
    return Call(_action(action), _cache(cache), name)


def _action(text: str) -> Action:
    try:
        return parse_action(text)
    except ValueError:
        from tvmcli.config.profiles import suggest

        raise UsageError(
            f"unknown action {output.visible(text)!r}",
            hint=" ".join(
                part
                for part in (suggest(text, list(ACTIONS)), "Actions: " + ", ".join(ACTIONS))
                if part
            ),
        ) from None


def _cache(text: str) -> str:
    if not text:
        raise UsageError("the cache name is empty")
    return text


def _matrix_calls(args: CanArgs, rest: Sequence[str]) -> list[Call]:
    if rest:
        raise UsageError(
            "--matrix takes no ACTION CACHE NAME: name them with --cache, --key, --topic "
            "and --function"
        )
    if not args.caches:
        raise UsageError("--matrix needs at least one --cache NAME")
    if not (args.keys or args.topics or args.functions):
        raise UsageError("--matrix needs at least one --key, --topic or --function")
    calls: list[Call] = []
    for cache in args.caches:
        _cache(cache)
        for names, resource in (
            (args.keys, Resource.CACHE),
            (args.topics, Resource.TOPIC),
            (args.functions, Resource.FUNCTION),
        ):
            for name in names:
                calls.extend(Call(a, cache, name) for a in Action if a.resource is resource)
    return calls


def check_matrix_flags(args: CanArgs) -> None:
    """--cache, --key, --topic and --function name the matrix's resources only."""
    if args.matrix:
        return
    for flag, given in (
        ("--cache", args.caches),
        ("--key", args.keys),
        ("--topic", args.topics),
        ("--function", args.functions),
    ):
        if given:
            raise UsageError(f"{flag} goes with --matrix")


# -- whose grant ------------------------------------------------------------------------------


def _grant(
    who: str | None,
    args: CanArgs,
    stdin: BinaryIO,
    stdin_is_terminal: bool,
    environ: Mapping[str, str],
) -> Grant:
    if who is None:
        assert args.token_env is not None
        name = args.token_env
        if not environ.get(name, "").strip():
            raise UsageError(f"environment variable {name} is not set or is empty")
        return _token_grant(environ[name], f"the token in ${name}")
    if who == STDIN:
        if stdin_is_terminal:
            raise UsageError(
                "'-' reads a token from stdin, but stdin is a terminal",
                hint="Pipe it in (momento-tvm can - ... < token.txt) or use --token-env NAME.",
            )
        return _token_grant(_read_stdin(stdin), "the token on stdin")
    _refuse_a_credential(who)
    profile = steps.load(args.config).profile(who)
    return Grant(f"profile {profile.name}", profile, describe(profile))


def _read_stdin(stdin: BinaryIO) -> str:
    from tvmcli.credentials.decoding import MAX_INPUT_BYTES

    raw = stdin.read(MAX_INPUT_BYTES + 1)
    if len(raw) > MAX_INPUT_BYTES:
        raise UsageError(
            f"input is over {MAX_INPUT_BYTES // 1024} KiB; no Momento credential is that long"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("input is not UTF-8 text, so not a Momento credential") from None


def _refuse_a_credential(who: str) -> None:
    """A key or token given as PROFILE: refused without quoting it, since an argument lands in
    /proc/PID/cmdline and shell history, and an unknown-profile error would repeat it."""
    from tvmcli.config.profiles import PROFILE_NAME
    from tvmcli.credentials.decoding import CredentialFormatError, parse_credential

    try:
        parse_credential(who)
        looks_like_a_credential = True
    except CredentialFormatError:
        looks_like_a_credential = False
    if looks_like_a_credential or not PROFILE_NAME.fullmatch(who):
        raise UsageError(
            "PROFILE is not a profile name"
            + (" but a key or token" if looks_like_a_credential else "")
            + ": a credential is never taken as an argument (it would land in shell history "
            "and /proc/PID/cmdline)",
            hint="Pipe the token in (momento-tvm can - ACTION CACHE NAME < token.txt) or use "
            "--token-env NAME.",
        )


def _token_grant(text: str, subject: str) -> Grant:
    from tvmcli.credentials.decoding import parse_credential
    from tvmcli.credentials.grants import grant_of

    credential = parse_credential(text)
    permissions = grant_of(credential)
    expires = credential.claims.get("exp")
    if isinstance(expires, (int, float)) and not isinstance(expires, bool) and expires < now():
        output.warning(
            f"{subject} has expired: Momento refuses it whatever it grants "
            "(AUTHENTICATION_ERROR); the answer below is what it granted"
        )
    return Grant(subject, permissions, describe(permissions))


# -- answers ------------------------------------------------------------------------------------


def answer_json(call: Call, decision: Decision) -> dict[str, object]:
    return {
        "allowed": decision.allowed,
        "action": call.action.value,
        "cache": call.cache,
        "name": call.name,
        "statement": decision.statement,
        "reason": decision.reason,
    }


def _closest(grant: Grant, decision: Decision) -> list[str]:
    return [
        f"statement {n}: {grant.words[n - 1]}" if n <= len(grant.words) else f"statement {n}"
        for n in decision.closest
    ]


def _show_one(grant: Grant, call: Call, decision: Decision, fmt: str) -> None:
    if fmt == "json":
        output.json_data(
            {
                **answer_json(call, decision),
                "closest": list(decision.closest),
                "hint": decision.hint,
            }
        )
        return
    rows = [
        ("Allowed", "yes" if decision.allowed else "no"),
        ("Grant", grant.subject),
        ("Action", call.action.value),
        ("Cache", call.cache),
        (_NAME_LABELS[call.action.resource].capitalize(), _quoted(call.name)),
        ("Reason", decision.reason),
    ]
    if not decision.allowed:
        rows.extend(("Closest", line) for line in _closest(grant, decision))
        if decision.hint:
            rows.append(("Hint", f"a statement that allows it: {decision.hint}"))
    output.key_values(rows)


def _show_matrix(grant: Grant, answers: list[tuple[Call, Decision]], fmt: str) -> None:
    if fmt == "json":
        output.json_data([answer_json(call, decision) for call, decision in answers])
        return
    output.table(
        ("Cache", "Kind", "Name", "Action", "Allowed", "Reason"),
        (
            (
                call.cache,
                _NAME_LABELS[call.action.resource],
                _quoted(call.name),
                call.action.value,
                "yes" if decision.allowed else "no",
                decision.reason,
            )
            for call, decision in answers
        ),
        title=f"What {grant.subject} may do",
    )


def _quoted(name: str) -> str:
    import json

    return json.dumps(name, ensure_ascii=False)


def main(args: CanArgs) -> int:
    check_matrix_flags(args)
    return run(args, stdin=sys.stdin.buffer, stdin_is_terminal=sys.stdin.isatty())
