"""`momento-tvm emulator` as a user starts it: in the foreground, or in the background through
`eval "$(momento-tvm emulator --print-env &)"`, and what it prints for an application's own SDK."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tvmcli.credentials.decoding import Kind, parse_credential

BIN = Path(sys.executable).parent
TVM = str(BIN / "momento-tvm")
EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"


def bash(script: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOMENTO_")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def foreground_rows() -> tuple[dict[str, str], subprocess.Popen[str]]:
    process = subprocess.Popen(
        [TVM, "emulator", "--rate-limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()]).start()
    rows = {}
    while "JS SDK" not in rows:
        try:
            label, _, value = lines.get(timeout=15).strip().partition("  ")
        except queue.Empty:
            process.kill()
            raise AssertionError(f"no JS SDK line; got {rows}") from None
        rows[label] = value.strip()
    return rows, process


def test_the_printed_python_sdk_form_reaches_the_emulator() -> None:
    """The exact text printed under "Python SDK" is evaluated and driven by the real SDK."""
    from momento import AuthClient, CredentialProvider
    from momento.auth.access_control.disposable_token_scopes import DisposableTokenScopes
    from momento.config.auth_configurations import AuthConfigurations
    from momento.responses.auth.generate_disposable_token import GenerateDisposableToken
    from momento.utilities import ExpiresIn

    rows, process = foreground_rows()
    try:
        provider = eval(rows["Python SDK"], {"CredentialProvider": CredentialProvider})  # noqa: S307
        client = AuthClient(AuthConfigurations.Laptop.latest(), provider)
        response = client.generate_disposable_token(
            DisposableTokenScopes.topic_subscribe_only("chat", "news"), ExpiresIn.minutes(5)
        )
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert isinstance(response, GenerateDisposableToken.Success), response
    # the SDKs' own env readers would have dialled token.127.0.0.1:PORT over TLS instead
    assert (
        f"token.{rows['Endpoint']}"
        == CredentialProvider.from_api_key_v2(
            parse_credential(rows["API key"]).secret, rows["Endpoint"]
        ).token_endpoint
    )


def test_the_printed_js_sdk_form_names_every_endpoint_and_a_v1_key() -> None:
    """JS SDK 1.118: fromString refuses a v2 key and baseEndpoint prefixes cache./token., so the
    form that reaches a local server is a v1 key with all three endpoints overridden (checked
    with @gomomento/sdk 1.118.1 in test_js_sdks.py, which mints with this very form)."""
    rows, process = foreground_rows()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    endpoint = rows["Endpoint"]
    v1 = parse_credential(rows["v1 API key"])
    assert v1.kind is Kind.ENVELOPE
    assert (v1.endpoint, v1.secret) == (endpoint, parse_credential(rows["API key"]).secret)
    assert rows["JS SDK"] == (
        f'CredentialProvider.fromString({{apiKey: "{rows["v1 API key"]}", endpointOverrides: '
        f'{{cacheEndpoint: "{endpoint}", controlEndpoint: "{endpoint}", '
        f'tokenEndpoint: "{endpoint}", secureConnection: false}}}})'
    )


def test_background_start_keeps_the_terminal_quiet_and_logs_to_a_file(tmp_path: Path) -> None:
    """No --log-file: the call log goes to the cache folder, not onto the user's terminal (where
    it mixed into the mint spinner), and the stop hint says kill, not Ctrl-C."""
    result = bash(
        f"""
        set -e
        export HOME="{tmp_path}" XDG_CACHE_HOME="{tmp_path}/cache"
        eval "$(momento-tvm emulator --print-env &)"
        momento-tvm mint chat-reader -c "{EXAMPLE}" > /dev/null
        kill "$MOMENTO_TVM_EMULATOR_PID"
        while kill -0 "$MOMENTO_TVM_EMULATOR_PID" 2>/dev/null; do sleep 0.1; done
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "minted" not in result.stderr
    assert "Ctrl-C" not in result.stderr
    log_file = tmp_path / "cache" / "momento-tvm" / "emulator.log"
    assert re.search(rf"^Call log +{re.escape(str(log_file))}$", result.stderr, re.M)
    assert re.search(r'^Stop with +kill "\$MOMENTO_TVM_EMULATOR_PID"$', result.stderr, re.M)
    log = log_file.read_text()
    assert "minted token_id=- statements=1" in log
    assert "stop with: kill" in log
    assert "stopped: 1 call, 1 mint, no refusals; topics: 0 publishes, 0 subscriptions" in log


def test_a_failed_background_start_fails_the_eval_and_clears_stale_values(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = bash(
            f"""
            export MOMENTO_API_KEY=stale MOMENTO_ENDPOINT=stale:1 MOMENTO_TVM_EMULATOR_PID=1
            if eval "$(momento-tvm emulator --port {port} --print-env --quiet &)"; then
                echo "eval succeeded"
            fi
            echo "key=${{MOMENTO_API_KEY-unset}} endpoint=${{MOMENTO_ENDPOINT-unset}}"
            echo "pid=${{MOMENTO_TVM_EMULATOR_PID-unset}}"
            """,
            tmp_path,
        )
    assert "eval succeeded" not in result.stdout
    assert "key=unset endpoint=unset" in result.stdout
    assert "pid=unset" in result.stdout
    assert (
        result.stderr.splitlines()[0]
        == f"error: cannot listen on 127.0.0.1:{port}: the port is in use"
    )


def test_a_port_in_use_prints_only_the_clean_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [TVM, "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: the port is in use\n"


def test_a_usage_error_with_print_env_also_fails_the_eval(tmp_path: Path) -> None:
    result = bash(
        """
        export MOMENTO_API_KEY=stale
        eval "$(momento-tvm emulator --print-env --port nope &)" || echo "eval failed"
        echo "key=${MOMENTO_API_KEY-unset}"
        """,
        tmp_path,
    )
    assert "eval failed" in result.stdout
    assert "key=unset" in result.stdout


def test_latency_takes_a_duration(tmp_path: Path) -> None:
    result = bash(
        f"""
        set -e
        eval "$(momento-tvm emulator --print-env --quiet --latency 600ms --log-file log &)"
        start=$(date +%s%N)
        momento-tvm mint chat-reader -c "{EXAMPLE}" > /dev/null
        echo "ms=$(( ($(date +%s%N) - start) / 1000000 ))"
        kill "$MOMENTO_TVM_EMULATOR_PID"
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split("ms=")[1]) >= 600


def test_the_stop_line_is_a_sentence(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [TVM, "emulator", "--fail-first", "1", "--quiet", "--print-env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
    )
    assert process.stdout is not None
    env = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", process.stdout.read()))
    mint = subprocess.run(
        [TVM, "mint", "chat-reader", "-c", str(EXAMPLE)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert mint.returncode == 0, mint.stderr
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    time.sleep(0.1)
    log = (tmp_path / "momento-tvm" / "emulator.log").read_text()
    assert "stopped: 2 calls, 1 mint, refusals: UNAVAILABLE 1" in log
    assert "{" not in log


def test_print_env_exports_the_web_endpoint_and_it_serves_grpc_web(tmp_path: Path) -> None:
    """--web-port and --web-origin as given; the exported URL answers a gRPC-web mint from the
    allowed origin."""
    import base64
    import struct

    import httpx

    from tests.test_emulator_grpc_web import mint_request, parse_answer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        web_port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            *(TVM, "emulator", "--print-env", "--quiet", "--web-port", str(web_port)),
            *("--web-origin", "https://chat.test", "--log-file", str(tmp_path / "log")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        env = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", process.stdout.read()))
        web = env["MOMENTO_TVM_EMULATOR_WEB_ENDPOINT"]
        assert web == f"http://127.0.0.1:{web_port}"
        key = parse_credential(env["MOMENTO_API_KEY"]).secret
        request = mint_request(env["MOMENTO_API_KEY"])
        response = httpx.post(
            f"{web}/token.Token/GenerateDisposableToken",
            content=base64.b64encode(struct.pack(">BI", 0, len(request)) + request),
            headers={
                "content-type": "application/grpc-web-text",
                "origin": "https://chat.test",
                "authorization": key,
            },
            timeout=10,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert response.headers["access-control-allow-origin"] == "https://chat.test"
    _, trailers = parse_answer(response.content, text=True)
    assert trailers["grpc-status"] == "0"


def test_the_web_sdk_form_names_the_web_endpoint_for_every_endpoint() -> None:
    process = subprocess.Popen(
        [TVM, "emulator", "--rate-limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()]).start()
    rows: dict[str, str] = {}
    try:
        while "Web SDK" not in rows:
            label, _, value = lines.get(timeout=15).strip().partition("  ")
            rows[label] = value.strip()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    web = rows["Web endpoint"].split()[0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", web)
    assert web != f"http://{rows['Endpoint']}"
    assert rows["Web SDK"] == (
        "CredentialProvider.fromDisposableToken({authToken, endpointOverrides: "
        f'{{cacheEndpoint: "{web}", controlEndpoint: "{web}", tokenEndpoint: "{web}"}}}})'
    )


def test_a_taken_web_port_fails_the_eval_and_unsets_the_web_endpoint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = bash(
            f"""
            export MOMENTO_TVM_EMULATOR_WEB_ENDPOINT=http://127.0.0.1:1 MOMENTO_API_KEY=stale
            eval "$(momento-tvm emulator --web-port {port} --print-env --quiet &)" || echo failed
            echo "web=${{MOMENTO_TVM_EMULATOR_WEB_ENDPOINT-unset}} key=${{MOMENTO_API_KEY-unset}}"
            """,
            tmp_path,
        )
    assert "failed" in result.stdout
    assert "web=unset key=unset" in result.stdout
    assert f"cannot listen on 127.0.0.1:{port} (--web-port): the port is in use" in result.stderr


def test_a_web_origin_that_is_not_an_origin_is_a_usage_error() -> None:
    result = subprocess.run(
        [TVM, "emulator", "--web-origin", "chat.test/app"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--web-origin 'chat.test/app': an origin is scheme://host[:port]" in result.stderr
    assert "Traceback" not in result.stderr
