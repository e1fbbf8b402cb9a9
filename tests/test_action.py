"""The GitHub Action (`action.yml`): linted, and its steps run as the runner runs a composite
action, against a local `serve` trusting GitHub's ID tokens (GitHub's ID-token endpoint played
on loopback by tests/ci_providers.py). The install step is replaced by this checkout's own
package, on PATH as the step's $GITHUB_PATH line would put the installed one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci_providers import CI_PROFILES, Provider, github_claims, keyless_server_toml
from tests.serving import serve
from tests.test_readme_ci import runner_env
from tests.test_token_env import parse_github_file
from tests.test_workflows import lint
from tvmcli import __version__
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

ROOT = Path(__file__).parent.parent
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
BIN = Path(sys.executable).parent


def test_the_action_passes_the_linter_default_profile() -> None:
    assert lint([ROOT / "action.yml"], cwd=ROOT) == ""


def test_the_action_is_composite_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"profile", "from", "audience", "env-var", "version"}
    assert ACTION["inputs"]["profile"]["required"] is True
    assert "secret" not in (ROOT / "action.yml").read_text().lower().replace(
        "no momento secret", ""
    )


def test_the_action_installs_the_release_it_belongs_to() -> None:
    """A tag vX.Y.Z of this repository installs momento-tvm X.Y.Z unless told otherwise."""
    assert ACTION["inputs"]["version"]["default"] == __version__
    [install] = [step for step in ACTION["runs"]["steps"] if step.get("id") == "install"]
    assert '"momento-tvm==$TVM_VERSION"' in install["run"]


def run_action(
    inputs: dict[str, str], env: dict[str, str], tmp_path: Path
) -> tuple[int, list[str], dict[str, str]]:
    """The action's steps as the runner runs them: `${{ inputs.X }}` expanded (with the
    defaults), fresh $GITHUB_ENV / $GITHUB_OUTPUT / $GITHUB_PATH files per step, and what a step
    appends to them reaching the later steps; a failing step ends the run. Returns the last
    step's exit status, each step's log and the job's env."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    logs = []
    env = {**env, "RUNNER_TEMP": str(tmp_path / "runner-temp")}
    for number, step in enumerate(ACTION["runs"]["steps"]):
        if step.get("id") == "install":
            env["PATH"] = f"{BIN}:{env['PATH']}"  # this checkout's package stands in
            continue
        files = {
            name: tmp_path / f"{name.lower()}_{number}"
            for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH")
        }
        for path in files.values():
            path.touch()
        step_env = {**env, **{name: str(path) for name, path in files.items()}}
        for name, value in step.get("env", {}).items():
            step_env[name] = re.sub(
                r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], str(value)
            )
        assert step["shell"] == "bash"
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=tmp_path,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        logs.append(result.stdout + result.stderr)
        if result.returncode != 0:
            return result.returncode, logs, env
        env.update(parse_github_file(files["GITHUB_ENV"].read_text()))
    return 0, logs, env


@pytest.fixture
def github() -> Any:
    provider = Provider()
    provider.job = github_claims("acme/web", "refs/heads/main", "push", audience=None)
    yield provider
    provider.close()


@pytest.mark.parametrize(
    ("inputs", "variable"),
    [
        ({"profile": "ci-deploy"}, "MOMENTO_API_KEY"),
        ({"profile": "ci-deploy", "env-var": "DEPLOY_TOKEN"}, "DEPLOY_TOKEN"),
        ({"profile": "ci-deploy", "audience": "momento-tvm"}, "MOMENTO_API_KEY"),
    ],
    ids=["defaults", "env-var", "audience"],
)
def test_the_action_trades_the_job_identity_for_a_masked_exported_token(
    tmp_path: Path, emulator: Emulator, github: Provider, inputs: dict[str, str], variable: str
) -> None:
    gitlab = Provider()
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            env = {**runner_env(tmp_path), **github.actions_env()}
            code, logs, job_env = run_action({**inputs, "from": server.url}, env, tmp_path)
    finally:
        gitlab.close()
    assert code == 0, logs
    token = job_env[variable]
    assert parse_credential(token).kind is Kind.DISPOSABLE_TOKEN
    assert parse_credential(token).claims["id"] == "repo:acme/web:ref:refs/heads/main"
    assert logs[-1].splitlines()[0] == f"::add-mask::{token}"  # masked before anything else
    assert int(job_env["MOMENTO_TOKEN_EXPIRES_AT"]) > 0
    assert github.id_token_requests == [(True, "momento-tvm")]
    assert github.request_token not in "".join(logs)


def test_without_from_the_action_asks_the_server_named_by_momento_tvm_url(
    tmp_path: Path, emulator: Emulator, github: Provider
) -> None:
    gitlab = Provider()
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            env = {**runner_env(tmp_path), **github.actions_env(), "MOMENTO_TVM_URL": server.url}
            code, logs, job_env = run_action({"profile": "ci-deploy"}, env, tmp_path)
    finally:
        gitlab.close()
    assert code == 0, logs
    assert parse_credential(job_env["MOMENTO_API_KEY"]).kind is Kind.DISPOSABLE_TOKEN


def test_a_refused_identity_fails_the_step_with_exit_4(
    tmp_path: Path, emulator: Emulator, github: Provider
) -> None:
    github.job = github_claims("someone/else", "refs/heads/main", "push", audience=None)
    gitlab = Provider()
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            env = {**runner_env(tmp_path), **github.actions_env()}
            code, logs, job_env = run_action(
                {"profile": "ci-deploy", "from": server.url}, env, tmp_path
            )
    finally:
        gitlab.close()
    assert code == 4
    assert "error:" in logs[-1]
    assert "MOMENTO_API_KEY" not in job_env


def test_the_readme_example_runs(tmp_path: Path, emulator: Emulator, github: Provider) -> None:
    """The README's job that uses the action: its inputs exist, and its steps run."""
    from tests.test_readme_ci import readme_yaml

    job = readme_yaml("# .github/workflows/deploy-with-the-action.yml")["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    [uses] = [step for step in job["steps"] if step.get("uses", "").endswith("/momento-tvm@v1")]
    assert set(uses["with"]) <= set(ACTION["inputs"])
    gitlab = Provider()
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            env = {**runner_env(tmp_path), **github.actions_env()}
            inputs = {
                name: re.sub(r"\$\{\{\s*vars\.MOMENTO_TVM_URL\s*\}\}", server.url, value)
                for name, value in uses["with"].items()
            }
            code, logs, job_env = run_action(inputs, env, tmp_path)
    finally:
        gitlab.close()
    assert code == 0, logs
    [after] = [step for step in job["steps"] if step.get("name") == "Use it"]
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", after["run"]],
        env=job_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert job_env["MOMENTO_API_KEY"] not in result.stdout + result.stderr


def test_the_readme_shows_the_action_with_real_inputs() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    [steps] = [yaml.safe_load(b) for b in blocks if "/momento-tvm@v1" in b]
    [uses] = [step for step in steps if step.get("uses", "").endswith("/momento-tvm@v1")]
    assert set(uses["with"]) <= set(ACTION["inputs"])
    assert "profile" in uses["with"]
