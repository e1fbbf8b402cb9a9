"""The browser helper (/client.js) running in headless Chromium, against `serve` minting from the
emulator over real HTTP and gRPC, with tokens of a few seconds.

Each page is served from a second loopback origin (allowed by cors_origins), imports the module
cross-origin with a <script type="module">, runs one scenario and resolves window.__scenario
with a summary: never a token (the assertion messages print it)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import AWAIT_SCENARIO, chromium
from tests.docs import all_text
from tests.serving import BEARER, Running, serve
from tests.test_browser import page_server
from tvmcli.emulator import Emulator

ROOT = Path(__file__).parent.parent

LIFETIME = 10  # seconds: long enough to tell "refreshed early" from "refreshed at once"

PROFILES = f"""
[profiles.short]
expires_in = "{LIFETIME}s"
cache = false  # every request mints: only the helper can keep requests to one
permissions = [{{ role = "subscribe-only", cache = "chat", topic = "*" }}]
"""


def server_toml(origin: str, extra: str = "") -> str:
    return f"""
[server]
auth = "bearer"
default_profile = "short"
cors_origins = ["{origin}"]
client_rate = 0
min_ttl = "1s"
{extra}
[server.bearer]
tokens_env = "TEST_BEARER"
"""


# The page: a classic script first (it may skew the clock, and counts the requests the module
# makes), then the module, imported from the server like an app would.
PAGE = """<!doctype html>
<html><body>
<script>
const realNow = () => performance.timeOrigin + performance.now();  // Date may be skewed below
window.__scenario = new Promise((resolve) => {{ window.__done = resolve; }});
window.__tokenRequests = 0;
const realFetch = window.fetch.bind(window);
window.fetch = (input, init) => {{
  if (String(input).includes("/token")) window.__tokenRequests += 1;
  return realFetch(input, init);
}};
const skewMs = {skew_ms};
if (skewMs !== 0) {{
  const RealDate = Date;
  class SkewedDate extends RealDate {{
    constructor(...args) {{
      if (args.length === 0) super(RealDate.now() + skewMs);
      else super(...args);
    }}
    static now() {{ return RealDate.now() + skewMs; }}
  }}
  window.Date = SkewedDate;
}}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
</script>
<script type="module" onerror="__done({{ error: 'the module did not load' }})">
import {{ TvmTokenSource, TvmTokenError }} from "{server}/client.js";
const server = "{server}";
const url = server + "/token?profile=short";
const goodBearer = "{bearer}";
let bearer = goodBearer;
const headers = async () => ({{ Authorization: "Bearer " + bearer }});
const describe = (e) => ({{ name: e.name, code: e.code, status: e.status, message: e.message,
                            isTvmError: e instanceof TvmTokenError }});
async function scenario() {{
{body}
}}
scenario().then(__done, (e) => __done({{ error: String((e && e.stack) || e) }}));
</script>
</body></html>
"""


def run_page(
    emulator: Emulator,
    tmp_path: Path,
    body: str,
    *,
    skew_ms: int = 0,
    server_extra: str = "",
) -> tuple[dict[str, Any], Running]:
    page = [""]
    with (
        page_server(page) as origin,
        serve(emulator, server_toml(origin, server_extra), PROFILES) as server,
    ):
        page[0] = PAGE.format(server=server.url, bearer=BEARER, body=body, skew_ms=skew_ms)
        with chromium(tmp_path / "chromium") as browser:
            result = browser.page_result(origin + "/")
    assert isinstance(result, dict), result
    assert "error" not in result, result["error"]
    return result, server


def test_concurrent_token_calls_share_one_request_and_later_calls_use_the_cache(
    emulator: Emulator, tmp_path: Path
) -> None:
    body = """
  const source = new TvmTokenSource({ url, headers });
  const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => source.token()));
  const later = await source.token();
  source.close();
  return {
    requests: window.__tokenRequests,
    allSame: tokens.every((t) => t.authToken === tokens[0].authToken),
    laterSame: later.authToken === tokens[0].authToken,
    keys: Object.keys(tokens[0]).sort(),
    frozen: Object.isFrozen(tokens[0]),
    looksLikeAToken: tokens[0].authToken.length > 100 && tokens[0].expiresAt > 1e9,
  };
"""
    result, server = run_page(emulator, tmp_path, body)
    assert result == {
        "requests": 1,
        "allSame": True,
        "laterSame": True,
        "keys": ["authToken", "endpoint", "expiresAt", "profile", "tokenId"],
        "frozen": True,
        "looksLikeAToken": True,
    }
    assert server.vendor.mints == 1


def test_a_page_on_another_origin_cannot_import_the_module(
    emulator: Emulator, tmp_path: Path
) -> None:
    page = [""]
    with (
        page_server(page) as origin,
        page_server(page) as allowed,
        serve(emulator, server_toml(allowed), PROFILES) as server,
    ):
        page[0] = PAGE.format(server=server.url, bearer=BEARER, body="return {};", skew_ms=0)
        with chromium(tmp_path / "chromium") as browser:
            result = browser.page_result(origin + "/")
    assert result == {"error": "the module did not load"}


# 0: the browser's clock is right; +-1 h: it is an hour off, and the helper must go by the
# server's `now`. Off by +1 h, a helper trusting Date would think every token expired an hour
# ago and ask again at once; off by -1 h, it would wait an hour.
@pytest.mark.parametrize("skew_hours", [0, 1, -1], ids=["clock-right", "ahead-1h", "behind-1h"])
def test_the_token_is_refreshed_before_it_expires_and_delivered_to_on_refresh(
    emulator: Emulator, tmp_path: Path, skew_hours: int
) -> None:
    body = """
  const source = new TvmTokenSource({ url, headers, refreshBeforeMs: 4000 });
  let calls = 0;
  const refreshed = new Promise((resolve) => {
    source.onRefresh((token) => {
      calls += 1;
      resolve({ token, at: realNow(), requests: window.__tokenRequests });
    });
  });
  const first = await source.token();
  const firstAt = realNow();
  const timeout = sleep(30000).then(() => null);
  const refresh = await Promise.race([refreshed, timeout]);
  if (refresh === null) return { refreshed: false };
  const cached = await source.token();
  source.close();
  return {
    refreshed: true,
    requestsAtRefresh: refresh.requests,
    calls,
    newToken: refresh.token.authToken !== first.authToken,
    laterExpiry: refresh.token.expiresAt > first.expiresAt,
    secondsAfterFirst: (refresh.at - firstAt) / 1000,
    beforeExpiry: refresh.at < first.expiresAt * 1000,
    tokenNowServesTheNewOne: cached.authToken === refresh.token.authToken,
  };
"""
    result, server = run_page(emulator, tmp_path, body, skew_ms=skew_hours * 3_600_000)
    assert result["refreshed"], "no onRefresh within 30 s"
    # At refresh time (LIFETIME - 1 - 4 = 5 s after the first token, by the server's clock):
    # exactly the second request; a helper trusting a clock an hour ahead would have asked a
    # second later (its floor between requests), one an hour behind never.
    assert result["secondsAfterFirst"] > 2.5, result
    assert result["requestsAtRefresh"] == 2, result
    assert result["beforeExpiry"], result
    assert {k: result[k] for k in ("calls", "newToken", "laterExpiry")} == {
        "calls": 1,
        "newToken": True,
        "laterExpiry": True,
    }
    assert result["tokenNowServesTheNewOne"]
    assert server.vendor.mints == 2


def test_a_503_with_retry_after_is_retried_after_that_long_then_succeeds(
    emulator: Emulator, tmp_path: Path
) -> None:
    # One mint per 2 s window and no queue: the page's own first request spends the window,
    # so the helper's request right after is shed with 503 and Retry-After, for real.
    body = """
  const spend = await fetch(url, { headers: await headers() });
  const source = new TvmTokenSource({ url, headers });
  const before = window.__tokenRequests;
  const token = await source.token();
  source.close();
  return {
    spent: spend.status,
    helperRequests: window.__tokenRequests - before,
    gotToken: token.authToken.length > 100,
  };
"""
    extra = 'mint_rate = 0.5\nmint_queue = "0s"'
    result, server = run_page(emulator, tmp_path, body, server_extra=extra)
    # Two requests from the helper: the 503, then one retry after Retry-After. Retrying
    # sooner (its own backoff starts near 1 s) would have been shed again.
    assert result == {"spent": 200, "helperRequests": 2, "gotToken": True}
    assert server.app.state.limiter.shed == 1  # type: ignore[attr-defined]
    assert server.vendor.mints == 2


def test_a_401_stops_the_helper_and_rejects_with_the_servers_code(
    emulator: Emulator, tmp_path: Path
) -> None:
    body = """
  let refreshes = 0;
  bearer = "wrong-bearer-token-0123456789";
  const source = new TvmTokenSource({ url, headers, refreshBeforeMs: 4000 });
  source.onRefresh(() => { refreshes += 1; });
  // Two pending calls, one request, both rejected with the server's error.
  const refused = await Promise.allSettled([source.token(), source.token()]);
  const requestsAfterRefusal = window.__tokenRequests;

  // Signed in again, the app asks again and gets a token; then its sign-in goes bad while the
  // token lives. The timer's refresh is refused; nothing more is asked, even after expiry.
  bearer = goodBearer;
  const first = await source.token();
  bearer = "wrong-bearer-token-0123456789";
  while (realNow() < first.expiresAt * 1000 + 1000) await sleep(250);
  const requestsAfterExpiry = window.__tokenRequests;
  const late = await source.token().then(() => null, describe);
  await sleep(2000);
  source.close();
  return {
    refused: refused.map((r) => (r.status === "rejected" ? describe(r.reason) : "resolved")),
    requestsAfterRefusal,
    requestsAfterExpiry,
    late,
    requestsAtEnd: window.__tokenRequests,
    refreshes,
  };
"""
    result, server = run_page(emulator, tmp_path, body)
    refusal = {
        "name": "TvmTokenError",
        "code": "bad_credentials",
        "status": 401,
        "message": "the bearer token is not valid",
        "isTvmError": True,
    }
    assert result["refused"] == [refusal, refusal]
    assert result["requestsAfterRefusal"] == 1
    # the good request, then the timer's one refused refresh, and no retry after it
    assert result["requestsAfterExpiry"] == 3, result
    assert result["late"] == refusal  # token() asks once more when called, and is refused
    assert result["requestsAtEnd"] == 4, result
    assert result["refreshes"] == 0
    assert server.vendor.mints == 1
    assert BEARER not in json.dumps(result)


def test_network_errors_are_retried_until_the_token_expires_then_token_rejects(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The server goes away while the page holds a token: the refresh is retried with backoff
    until that token expires, then the waiting token() call rejects, and nothing more is
    asked."""
    body = """
  const source = new TvmTokenSource({ url, headers, refreshBeforeMs: 4000 });
  const first = await source.token();
  const firstAt = realNow();
  window.__phase2 = async () => {  // called once the server is gone
    while (realNow() < firstAt + 6000) await sleep(100);  // the refresh has begun, and failed
    const rejection = await source.token().then(() => null, describe);
    const rejectedAt = realNow();
    const requestsAtRejection = window.__tokenRequests;
    await sleep(3000);
    source.close();
    return {
      rejection,
      requestsAtRejection,
      requestsAtEnd: window.__tokenRequests,
      secondsBeforeExpiry: first.expiresAt - rejectedAt / 1000,
    };
  };
  return { requests: window.__tokenRequests };
"""
    page = [""]
    with page_server(page) as origin, chromium(tmp_path / "chromium") as browser:
        with contextlib.ExitStack() as running:
            server = running.enter_context(serve(emulator, server_toml(origin), PROFILES))
            page[0] = PAGE.format(server=server.url, bearer=BEARER, body=body, skew_ms=0)
            session = browser.open(origin + "/")
            assert browser.evaluate(session, AWAIT_SCENARIO) == {"requests": 1}
        result = browser.evaluate(session, "window.__phase2()")
    assert result["rejection"]["code"] == "network_error", result
    assert (result["rejection"]["status"], result["rejection"]["isTvmError"]) == (0, True)
    # the first token, the timer's attempt and at least one retry; then nothing
    assert result["requestsAtRejection"] >= 3, result
    assert result["requestsAtEnd"] == result["requestsAtRejection"], result
    # Given up only about when the token expired (at most the second `now` is rounded by and
    # a little more earlier), not at the first failure, about 5 s before.
    assert result["secondsBeforeExpiry"] < 3.5, result


def test_the_readmes_module_script_example_runs_as_written(
    emulator: Emulator, tmp_path: Path
) -> None:
    # The README's example, the same as the browser page's
    found = re.findall(r"```html\n(<script type=\"module\">.*?</script>)\n```", all_text(), re.S)
    assert len(found) == 2
    [example] = set(found)
    page = [""]
    with page_server(page) as origin, serve(emulator, server_toml(origin), PROFILES) as server:
        report = (
            "  window.__done({ got: authToken.length > 100 && expiresAt > 1e9,"
            " off: typeof off });\n  source.close();\n</script>"
        )
        script = example.replace("http://127.0.0.1:8700", server.url).replace(
            "profile=chat-reader", "profile=short"
        )
        page[0] = (
            "<!doctype html><script>"
            f'const bearer = "{BEARER}";'
            "window.__scenario = new Promise((resolve) => { window.__done = resolve; });"
            "</script>\n" + script.replace("</script>", report)
        )
        with chromium(tmp_path / "chromium") as browser:
            result = browser.page_result(origin + "/")
    assert result == {"got": True, "off": "function"}


def test_credential_props_against_momento_carry_the_token_and_no_endpoints(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Without webEndpoint (a server minting from Momento) the Web SDK finds the endpoints in
    the token: credentialProps() is {authToken} alone; credentialPropsOf adds overrides only for
    a webEndpoint (test_js_sdks.py runs the Web SDK through them against the emulator)."""
    body = """
  const { credentialPropsOf } = await import(server + "/client.js");
  const source = new TvmTokenSource({ url, headers });
  const props = await source.credentialProps();
  const token = await source.token();
  source.close();
  let refused = null;
  try { credentialPropsOf({}); } catch (e) { refused = e.name; }
  return {
    keys: Object.keys(props),
    same: props.authToken === token.authToken,
    withWeb: credentialPropsOf({ authToken: "t", webEndpoint: "http://127.0.0.1:9" }),
    refused,
  };
"""
    result, _ = run_page(emulator, tmp_path, body)
    web = "http://127.0.0.1:9"
    assert result == {
        "keys": ["authToken"],
        "same": True,
        "withWeb": {
            "authToken": "t",
            "endpointOverrides": {
                "cacheEndpoint": web,
                "controlEndpoint": web,
                "tokenEndpoint": web,
            },
        },
        "refused": "TypeError",
    }
