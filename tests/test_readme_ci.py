"""The docs' GitHub Actions and GitLab CI jobs (docs/ci.md), run step by step as their runners
would."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.ci_providers import (
    CI_PROFILES,
    Provider,
    github_claims,
    gitlab_claims,
    keyless_server_toml,
)
from tests.docs import all_text
from tests.serving import serve
from tests.test_token_env import parse_github_file
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def readme_yaml(marker: str) -> dict[str, Any]:
    """The yaml block of the README or the docs whose first line is `marker`."""
    blocks = re.findall(r"```yaml\n(.*?)```", all_text(), re.S)
    [block] = {b for b in blocks if b.splitlines()[0] == marker}
    loaded: dict[str, Any] = yaml.safe_load(block)
    return loaded


def runner_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment with momento-tvm on PATH, as after `pip install .`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "GITHUB_"))}
    return {**keep, "PATH": f"{BIN}:{keep['PATH']}", "HOME": str(tmp_path)}


def stop_emulator(env: dict[str, str]) -> None:
    pid = env.get("MOMENTO_TVM_EMULATOR_PID")
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)


def expand(value: str, env: dict[str, str], variables: dict[str, str] | None = None) -> str:
    """`${{ env.X }}` and `${{ vars.X }}` (repository variables) as the runner expands them."""
    contexts = {"env": env, "vars": variables or {}}
    return re.sub(
        r"\$\{\{\s*(env|vars)\.(\w+)\s*\}\}",
        lambda m: contexts[m.group(1)][m.group(2)],
        value,
    )


def run_github_steps(
    job: dict[str, Any],
    env: dict[str, str],
    tmp_path: Path,
    variables: dict[str, str] | None = None,
) -> list[str]:
    """Run a job's `run:` steps in order as the runner would, each with fresh GITHUB_ENV and
    GITHUB_OUTPUT files; what a step appends to GITHUB_ENV reaches the next ones. Returns
    each step's stdout."""
    logs = []
    for number, step in enumerate(job["steps"]):
        if "uses" in step or step["run"].startswith("pip install"):
            continue  # checkout and setup-python: this checkout and its .venv stand in
        files = {
            name: tmp_path / f"{name.lower()}_{number}" for name in ("GITHUB_ENV", "GITHUB_OUTPUT")
        }
        for path in files.values():
            path.touch()
        step_env = {**env, **{k: str(p) for k, p in files.items()}}
        step_env.update({k: expand(str(v), env, variables) for k, v in step.get("env", {}).items()})
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=ROOT,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (step["name"], result.stderr)
        logs.append(result.stdout + result.stderr)
        env.update(parse_github_file(files["GITHUB_ENV"].read_text()))
    return logs


def test_github_actions_job_runs(tmp_path: Path) -> None:
    job = readme_yaml("# .github/workflows/momento-token.yml")["jobs"]["warm-cache"]
    env = runner_env(tmp_path)
    try:
        logs = run_github_steps(job, env, tmp_path)
    finally:
        stop_emulator(env)
    mint_log = next(log for log in logs if "::add-mask::" in log)
    token = mint_log.removeprefix("::add-mask::").strip()
    assert env["MOMENTO_API_KEY"] == token
    assert parse_credential(token).kind is Kind.DISPOSABLE_TOKEN
    assert any(f"token valid until {env['MOMENTO_TOKEN_EXPIRES_AT']}" in log for log in logs)
    assert env["ADMIN_KEY"] not in "".join(logs)
    (ROOT / "emulator.log").unlink(missing_ok=True)


def test_gitlab_ci_job_runs(tmp_path: Path) -> None:
    job = readme_yaml("# .gitlab-ci.yml")["warm-cache"]
    lines = [line for line in job["script"] if not line.startswith("pip install")]
    env = runner_env(tmp_path)
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    (ROOT / "emulator.log").unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    assert "disposable token" in result.stdout  # what inspect printed
    assert not re.search(
        r"[A-Za-z0-9+/=]{60,}", result.stdout + result.stderr
    )  # no token in the log


def test_keyless_github_actions_job_runs_with_no_momento_secret(
    tmp_path: Path, emulator: Emulator
) -> None:
    """The README's keyless job, step by step: GitHub's ID-token endpoint and the vending
    server (trusting that provider, minting from the emulator) are played on loopback; the
    repository variable MOMENTO_TVM_URL names the server."""
    workflow = readme_yaml("# .github/workflows/deploy.yml")
    job = workflow["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    assert "secrets." not in json.dumps(workflow)
    github, gitlab = Provider(), Provider()
    github.job = github_claims("acme/web", "refs/heads/main", "push", audience=None)
    env = {**runner_env(tmp_path), **github.actions_env()}
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            logs = run_github_steps(job, env, tmp_path, {"MOMENTO_TVM_URL": server.url})
    finally:
        github.close()
        gitlab.close()
    token = env["MOMENTO_API_KEY"]
    assert parse_credential(token).kind is Kind.DISPOSABLE_TOKEN
    assert parse_credential(token).claims["id"] == "repo:acme/web:ref:refs/heads/main"
    assert f"::add-mask::{token}" in logs[0]
    assert any(f"token valid until {env['MOMENTO_TOKEN_EXPIRES_AT']}" in log for log in logs)
    assert github.id_token_requests == [(True, "momento-tvm")]
    assert github.request_token not in "".join(logs)


def test_keyless_gitlab_ci_job_runs(tmp_path: Path, emulator: Emulator) -> None:
    job = readme_yaml("# .gitlab-ci.yml (keyless)")["deploy"]
    [(variable, spec)] = job["id_tokens"].items()
    lines = [line for line in job["script"] if not line.startswith("pip install")]
    github, gitlab = Provider(), Provider()
    id_token = gitlab.sign(gitlab_claims(audience=spec["aud"]))
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            env = {
                **runner_env(tmp_path),
                **job["variables"],
                "MOMENTO_TVM_URL": server.url,  # the job's https://tvm.example.com, here
                variable: id_token,  # what the runner does for id_tokens:
            }
            result = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    finally:
        github.close()
        gitlab.close()
    assert result.returncode == 0, result.stderr
    assert "disposable token" in result.stdout
    assert id_token not in result.stdout + result.stderr
    assert not re.search(r"[A-Za-z0-9+/=]{60,}", result.stdout + result.stderr)
