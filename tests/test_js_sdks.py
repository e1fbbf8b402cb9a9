"""Momento's own JavaScript SDKs as the consumers of the emulator's topics: the Node SDK
(@gomomento/sdk) over gRPC, and the Web SDK (@gomomento/sdk-web) in headless Chromium over the
gRPC-web listener, reaching it through client.js's credentialProps() and serve's webEndpoint.
The packages come from tests/js/package.json and its lock (scripts/npm-deps)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.docs import page
from tests.js_tools import JS_TESTS, need
from tests.minted import mint_once
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind, make_envelope
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator

PROFILES = """
[profiles.chat-writer]
permissions = [{ role = "publish-subscribe", cache = "chat", topic = "room" }]
[profiles.chat-reader]
permissions = [{ role = "subscribe-only", cache = "chat", topic = "room" }]
"""


def token(emulator: Emulator, profile: str, token_id: str | None = None) -> str:
    chosen = parse_config(PROFILES, Path("p.toml")).profile(profile)
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    return mint_once(key, chosen.statements, 300, token_id).auth_token


def test_node_sdk_subscriber_sees_the_publishers_token_id(emulator: Emulator) -> None:
    """client-sdk-javascript's auth-client.ts: a token id `myTokenID` is what subscribers see
    as tokenId(); and a subscribe-only token cannot publish."""
    need()
    env = {
        **os.environ,
        "PUBLISHER_TOKEN": token(emulator, "chat-writer", "myTokenID"),
        "SUBSCRIBER_TOKEN": token(emulator, "chat-reader", "a-reader"),
    }
    result = subprocess.run(
        ["node", str(JS_TESTS / "node_pubsub.mjs"), emulator.endpoint, "chat", "room"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=JS_TESTS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["published"] == ["ok", "ok"]
    assert seen["waited"] == "received"
    assert seen["items"] == [
        {"value": "hello", "tokenId": "myTokenID", "sequenceNumber": 1},
        {"value": "again", "tokenId": "myTokenID", "sequenceNumber": 2},
    ]
    assert seen["readerPublish"]["code"] == "PERMISSION_ERROR"
    assert seen["readerPublish"]["message"].startswith("Insufficient permissions")


WEB_PROFILES = (
    PROFILES.replace("[profiles.chat-writer]", '[profiles.chat-writer]\ntoken_id = "web-writer"')
    + """
[profiles.state-rw]
permissions = [{ role = "read-write", cache = "state" }]
"""
)

WEB_PAGE = """<!doctype html>
<html><body>
<script>{bundle}</script>
<script>window.__scenario = new Promise((resolve) => {{ window.__done = resolve; }});</script>
<script type="module">
import {{ TvmTokenSource }} from "{server}/client.js";
const {{ AuthClient, CacheClient, CacheGet, CacheSet, Configurations, CredentialProvider,
  DisposableTokenScopes, ExpiresIn, GenerateDisposableToken, TopicClient, TopicConfigurations,
  TopicPublish, TopicSubscribe }} = window.momento;
const headers = () => ({{ Authorization: "Bearer {bearer}" }});
const source = (profile) =>
  new TvmTokenSource({{ url: "{server}/token?profile=" + profile, headers }});
const client = (props) => new TopicClient({{
  configuration: TopicConfigurations.Browser.latest(),
  credentialProvider: CredentialProvider.fromDisposableToken(props),
}});
async function scenario() {{
  const writerProps = await source("chat-writer").credentialProps();
  const readerProps = await source("chat-reader").credentialProps();
  const writer = client(writerProps);
  const reader = client(readerProps);
  const items = [];
  let gotTwo;
  const two = new Promise((resolve) => (gotTwo = resolve));
  const subscription = await reader.subscribe("chat", "room", {{
    onItem: (item) => {{
      items.push([item.valueString(), item.tokenId() ?? null, item.sequenceNumber()]);
      if (items.length === 2) gotTwo();
    }},
  }});
  if (!(subscription instanceof TopicSubscribe.Subscription)) {{
    return {{ error: "subscribe: " + subscription.message() }};
  }}
  const published = [];
  for (const text of ["hi from the browser", "and again"]) {{
    const answer = await writer.publish("chat", "room", text);
    published.push(answer instanceof TopicPublish.Success ? "ok" : answer.message());
  }}
  const waited = await Promise.race([
    two.then(() => "received"),
    new Promise((resolve) => setTimeout(() => resolve("timeout"), 10000)),
  ]);
  const refused = await reader.publish("chat", "room", "a reader posting");
  // The cache calls and the token service over the same listener, through the Web SDK's own
  // CacheClient and AuthClient.
  const cache = new CacheClient({{
    configuration: Configurations.Browser.v1(),
    credentialProvider: CredentialProvider.fromDisposableToken(
      await source("state-rw").credentialProps()),
    defaultTtlSeconds: 60,
  }});
  const set = await cache.set("state", "greeting", "hello");
  const got = await cache.get("state", "greeting");
  const web = writerProps.endpointOverrides.cacheEndpoint;
  const auth = new AuthClient({{ credentialProvider: CredentialProvider.fromString({{
    apiKey: "{v1_key}",
    endpointOverrides: {{ cacheEndpoint: web, controlEndpoint: web, tokenEndpoint: web }},
  }}) }});
  const minted = await auth.generateDisposableToken(
    DisposableTokenScopes.topicSubscribeOnly("chat", "room"), ExpiresIn.minutes(5));
  const elsewhere = await reader.subscribe("chat", "elsewhere", {{ onItem: () => {{}} }});
  subscription.unsubscribe();
  return {{
    overrides: writerProps.endpointOverrides ?? null,
    propKeys: Object.keys(writerProps).sort(),
    published,
    waited,
    items,
    readerPublish: refused instanceof TopicPublish.Error
      ? [refused.errorCode(), refused.message()] : "accepted",
    otherTopic: elsewhere instanceof TopicSubscribe.Error
      ? elsewhere.errorCode() : "subscribed",
    cacheSet: set instanceof CacheSet.Success ? "ok" : set.toString(),
    cacheGet: got instanceof CacheGet.Hit ? got.valueString() : got.toString(),
    minted: minted instanceof GenerateDisposableToken.Success ? "ok" : minted.toString(),
  }};
}}
scenario().then(__done, (e) => __done({{ error: String((e && e.stack) || e) }}));
</script>
</body></html>
"""


def bundle(entry: Path, out: Path, *extra: str) -> str:
    esbuild = entry.parent / "node_modules" / ".bin" / "esbuild"
    result = subprocess.run(
        [str(esbuild), str(entry), "--bundle", *extra, f"--outfile={out}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8")


def test_web_sdk_in_chromium_publishes_and_subscribes_over_grpc_web(tmp_path: Path) -> None:
    """The page takes credentialProps() from client.js as it is: against serve minting from the
    emulator they name the gRPC-web listener, and the Web SDK's own topic calls then work,
    publisher ids included, and a reader's publish is refused as Momento refuses it."""
    need(chromium=True)
    from tests.chromium import chromium
    from tests.serving import BEARER, serve
    from tests.test_browser import page_server
    from tests.test_browser_client import server_toml

    script = bundle(
        JS_TESTS / "web_sdk_entry.js",
        tmp_path / "momento.js",
        "--format=iife",
        "--global-name=momento",
        "--minify",
    )
    page = [""]
    with (
        Emulator(rate_limit=0, web_port=0) as emulator,
        page_server(page) as origin,
        serve(
            emulator,
            server_toml(origin).replace('default_profile = "short"', ""),
            WEB_PROFILES,
            web_endpoint=emulator.web_endpoint,
        ) as server,
    ):
        v1_key = make_envelope(emulator.endpoint, emulator.issue_api_key())
        page[0] = WEB_PAGE.format(bundle=script, server=server.url, bearer=BEARER, v1_key=v1_key)
        with chromium(tmp_path / "chromium") as browser:
            result = browser.page_result(origin + "/", timeout=60)
        web_calls = emulator.web.app.calls if emulator.web else 0
    assert isinstance(result, dict), result
    assert "error" not in result, result["error"]
    web = emulator.web_endpoint
    assert result["propKeys"] == ["authToken", "endpointOverrides"]
    assert result["overrides"] == {
        "cacheEndpoint": web,
        "controlEndpoint": web,
        "tokenEndpoint": web,
    }
    assert result["published"] == ["ok", "ok"]
    assert result["waited"] == "received"
    assert result["items"] == [
        ["hi from the browser", "web-writer", 1],
        ["and again", "web-writer", 2],
    ]
    code, message = result["readerPublish"]
    assert code == "PERMISSION_ERROR"
    assert message.startswith("Insufficient permissions")
    assert result["otherTopic"] == "PERMISSION_ERROR"  # a refused stream, over gRPC-web too
    assert (result["cacheSet"], result["cacheGet"]) == ("ok", "hello")
    assert result["minted"] == "ok"
    assert emulator.service.stats()["mints"] >= 4  # three for serve, one by the Web SDK
    assert (
        web_calls >= 8
    )  # subscribes, publishes, set, get, mint: all through the gRPC-web listener


def test_in_ci_missing_js_packages_fail_and_elsewhere_the_skip_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"node_modules \(run scripts/npm-deps\).*CI"):
        need(node_modules=(tmp_path,))
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"needs .*node_modules \(run scripts/npm-deps"):
        need(node_modules=(tmp_path,))


def node_mint(code: str, env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        ["node", str(JS_TESTS / "node_auth.mjs")],
        input=code,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=JS_TESTS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_the_docs_node_sdk_block_mints_from_the_emulator(emulator: Emulator) -> None:
    """docs/emulator.md "From your application's own SDK code": the JS block as written."""
    need()
    readme = page("emulator.md")
    marker = readme.index("checked by tests/test_js_sdks.py")
    block = readme[readme.index("```js\n", marker) + 6 :]
    block = block[: block.index("```")]
    env = {"MOMENTO_ENDPOINT": emulator.endpoint, "MOMENTO_API_KEY": emulator.issue_api_key()}
    assert node_mint(block, env) == {"type": "Success"}
    assert emulator.service.stats()["mints"] == 1


def test_the_emulators_printed_js_sdk_form_mints_with_the_node_sdk(emulator: Emulator) -> None:
    need()
    from tvmcli.cli.emulator import sdk_forms

    form = dict(sdk_forms(emulator.issue_api_key(), emulator.endpoint))["JS SDK"]
    assert node_mint(f"const credentialProvider = {form};", {}) == {"type": "Success"}
