"""What `tvmcli.permits` says is what the emulator does.

Hypothesis generates grants (cache, topic and function statements: role x cache selector x
key / key prefix / topic / topic prefix / function selector) and calls on them. Each grant is
minted into a disposable token over the real token service; each call goes through Momento's
Python SDK (CacheClient, TopicClient) over real gRPC, and its answer (PERMISSION_ERROR or
not) must equal the evaluator's decision on the same profile statements. The emulator decides
with that very evaluator, so both are also held to `reference`, the rules written out plainly
here, which shares no code with it. `invoke` has no emulator call to compare with (Momento
Functions are not emulated); test_permits.py covers it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from momento import (
    CacheClient,
    Configurations,
    CredentialProvider,
    TopicClient,
    TopicConfigurations,
)
from momento.errors import MomentoErrorCode
from typer.testing import CliRunner

from tests.minted import mint_once
from tvmcli.cli.app import app
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator
from tvmcli.permissions.evaluator import Action, permits
from tvmcli.permissions.roles import Resource, Role
from tvmcli.permissions.statements import ALL, Statement

CACHES = ["c1", "c2"]
NAMES = ["a", "ab", "abc", "b", "ba"]  # keys and topics: prefixes of each other, and not
CALLABLE = [a for a in Action if a is not Action.INVOKE]


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    role = draw(st.sampled_from(list(Role)))
    cache = draw(st.sampled_from([*CACHES, ALL]))
    name = st.sampled_from(NAMES)
    if role.resource is Resource.CACHE:
        kind = draw(st.sampled_from(["all", "key", "key_prefix"]))
        if kind == "all":
            return Statement(role, cache)
        return Statement(role, cache, **{kind: draw(name)})
    field = "topic" if role.resource is Resource.TOPIC else "function"
    kind = draw(st.sampled_from([field, f"{field}_prefix", "every"]))
    if kind == "every":
        return Statement(role, cache, **{field: ALL})
    return Statement(role, cache, **{kind: draw(name)})


grants = st.lists(statements(), min_size=1, max_size=4, unique_by=lambda s: s.target)
calls = st.lists(
    st.tuples(st.sampled_from(CALLABLE), st.sampled_from([*CACHES, "c3"]), st.sampled_from(NAMES)),
    min_size=1,
    max_size=4,
)


NEEDS = {
    Action.GET: {Role.READ_WRITE, Role.READ_ONLY},
    Action.SET: {Role.READ_WRITE, Role.WRITE_ONLY},
    Action.DELETE: {Role.READ_WRITE, Role.WRITE_ONLY},
    Action.SET_IF_ABSENT: {Role.READ_WRITE},
    Action.INCREMENT: {Role.READ_WRITE},
    Action.PUBLISH: {Role.PUBLISH_SUBSCRIBE, Role.PUBLISH_ONLY},
    Action.SUBSCRIBE: {Role.PUBLISH_SUBSCRIBE, Role.SUBSCRIBE_ONLY},
}


def reference(grant: list[Statement], action: Action, cache: str, name: str) -> bool:
    """Issue 20's and the cache service's rules, independently of the evaluator."""

    def covers(s: Statement) -> bool:
        if s.resource is Resource.CACHE:
            if s.key is not None:
                return s.key == name
            return s.key_prefix is None or name.startswith(s.key_prefix)
        if s.resource is Resource.TOPIC:
            if s.topic is not None:
                return s.topic in (ALL, name)
            return s.topic_prefix is not None and name.startswith(s.topic_prefix)
        return False  # function statements grant no cache or topic call

    return any(s.role in NEEDS[action] and s.cache in (ALL, cache) and covers(s) for s in grant)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator(rate_limit=0) as running:
        yield running


def emulator_allows(cache_client: CacheClient, topic_client: TopicClient, call: tuple) -> bool:  # type: ignore[type-arg]
    return emulator_answer(cache_client, topic_client, call)[0]


def emulator_answer(
    cache_client: CacheClient,
    topic_client: TopicClient,
    call: tuple,  # type: ignore[type-arg]
) -> tuple[bool, str | None]:
    """(allowed, the gRPC details of a denial) as the SDK reports the emulator's answer."""
    action, cache, name = call
    if action is Action.GET:
        response: object = cache_client.get(cache, name)
    elif action is Action.SET:
        response = cache_client.set(cache, name, "1")
    elif action is Action.DELETE:
        response = cache_client.delete(cache, name)
    elif action is Action.SET_IF_ABSENT:
        response = cache_client.set_if_not_exists(cache, name, "1")
    elif action is Action.INCREMENT:
        response = cache_client.increment(cache, name, 1)
    elif action is Action.PUBLISH:
        response = topic_client.publish(cache, name, "hello")
    else:
        response = topic_client.subscribe(cache, name)
        unsubscribe = getattr(response, "unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
    code = getattr(response, "error_code", None)
    assert code in (None, MomentoErrorCode.PERMISSION_ERROR), (call, response)
    if code is None:
        return True, None
    return False, response.inner_exception.transport_details.grpc.details  # type: ignore[attr-defined]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(grant=grants, tried=calls)
def test_permits_equals_what_the_emulator_answers(
    shared_emulator: Emulator, grant: list[Statement], tried: list[tuple[Action, str, str]]
) -> None:
    emulator = shared_emulator
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    token = parse_credential(mint_once(key, grant, 300).auth_token).secret
    host, port = emulator.endpoint.split(":")
    provider = CredentialProvider(token, host, host, host, int(port))
    topic_config = TopicConfigurations.Default.v1().with_client_timeout(timedelta(seconds=30))
    with (
        CacheClient(Configurations.Laptop.v1(), provider, timedelta(seconds=60)) as cache_client,
        TopicClient(topic_config, provider) as topic_client,
    ):
        for call in tried:
            decision = permits(grant, call[0], call[1], call[2])
            assert decision.allowed is reference(grant, *call), (grant, call, decision)
            assert emulator_allows(cache_client, topic_client, call) is decision.allowed, (
                grant,
                call,
                decision,
            )


# -- `momento-tvm can` on the same grants: a profile, and the token minted from it ------------


def toml_statement(statement: Statement) -> str:
    field, value = statement.selector
    selector = "" if field == "items" else f", {field} = {json.dumps(value)}"
    role, cache = json.dumps(statement.role.value), json.dumps(statement.cache)
    return f"{{ role = {role}, cache = {cache}{selector} }}"


def mint_token(emulator: Emulator, grant: Sequence[Statement]) -> str:
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    return mint_once(key, grant, 300).auth_token


@contextlib.contextmanager
def clients(emulator: Emulator, envelope: str) -> Iterator[tuple[CacheClient, TopicClient]]:
    host, port = emulator.endpoint.split(":")
    provider = CredentialProvider(parse_credential(envelope).secret, host, host, host, int(port))
    topic_config = TopicConfigurations.Default.v1().with_client_timeout(timedelta(seconds=30))
    with (
        CacheClient(Configurations.Laptop.v1(), provider, timedelta(seconds=60)) as cache_client,
        TopicClient(topic_config, provider) as topic_client,
    ):
        yield cache_client, topic_client


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(grant=grants, tried=calls)
def test_can_answers_what_the_emulator_does_and_its_hint_allows_the_call(
    shared_emulator: Emulator,
    tmp_path: Path,
    grant: list[Statement],
    tried: list[tuple[Action, str, str]],
) -> None:
    """For a profile and for the token minted from it (read from stdin), `can` exits 0 exactly
    when the emulator allows the call through the SDK, and 4 when it refuses; a refusal's
    message is Momento's wording plus `can`'s reason; and the statement `can` hints at,
    minted alone into a token, is allowed that call by the emulator."""
    emulator = shared_emulator
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        "[profiles.p]\npermissions = [\n" + ",\n".join(toml_statement(s) for s in grant) + "\n]\n",
        encoding="utf-8",
    )
    envelope = mint_token(emulator, grant)
    runner = CliRunner()
    with clients(emulator, envelope) as (cache_client, topic_client):
        for call in tried:
            action, cache, name = call
            allowed, details = emulator_answer(cache_client, topic_client, call)
            for who, stdin in (("p", None), ("-", envelope)):
                result = runner.invoke(
                    app,
                    ["can", "-c", str(profiles), who, action.value, cache, name, "-o", "json"],
                    input=stdin,
                    catch_exceptions=False,
                )
                assert result.exit_code == (0 if allowed else 4), (grant, call, result.output)
                answer = json.loads(result.stdout)
                assert answer["allowed"] is allowed
                if not allowed:
                    assert details is not None
                    assert details.endswith(": " + answer["reason"]), (details, answer)
            if not allowed:
                hinted = parse_config(
                    f"[profiles.h]\npermissions = [{answer['hint']}]\n", Path("h.toml")
                ).profile("h")
                with clients(emulator, mint_token(emulator, hinted.statements)) as hint_clients:
                    assert emulator_answer(*hint_clients, call)[0], (grant, call, answer["hint"])
