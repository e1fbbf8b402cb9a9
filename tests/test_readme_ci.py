"""The README's GitHub Actions and GitLab CI jobs, run step by step as their runners would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.test_token_env import parse_github_file
from tvmcli.credential_format import Kind, parse_credential

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def readme_yaml(marker: str) -> dict[str, Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    [block] = [b for b in blocks if b.startswith(marker)]
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


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], value)


def test_github_actions_job_runs(tmp_path: Path) -> None:
    job = readme_yaml("# .github/workflows/momento-token.yml")["jobs"]["warm-cache"]
    env = runner_env(tmp_path)
    logs = []
    try:
        for number, step in enumerate(job["steps"]):
            if "uses" in step or step["run"].startswith("pip install"):
                continue  # checkout and setup-python: this checkout and its .venv stand in
            files = {
                name: tmp_path / f"{name.lower()}_{number}"
                for name in ("GITHUB_ENV", "GITHUB_OUTPUT")
            }
            for path in files.values():
                path.touch()
            step_env = {**env, **{k: str(p) for k, p in files.items()}}
            step_env.update({k: expand(str(v), env) for k, v in step.get("env", {}).items()})
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
            logs.append(result.stdout)
            env.update(parse_github_file(files["GITHUB_ENV"].read_text()))
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
