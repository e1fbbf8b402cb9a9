"""The release path: what `python -m build` makes is complete, passes twine, and works alone.

The sdist is built from this checkout and the wheel from the sdist (build's default), with the
build backend pyproject.toml asks for, fetched as a user's pip would. The wheel then goes into a
fresh venv with its dependencies at the versions requirements/dev.lock pins, and mints a token
from the emulator there, away from this checkout.
"""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement

from tvmcli import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
LOCK = ROOT / "requirements" / "dev.lock"
# Taken before any test isolates HOME: pip and build reuse the user's download cache.
PIP_ENV = {
    **os.environ,
    "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR")
    or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"),
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def run(*args: str | Path, timeout: float = 600, **kwargs: Any) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


class Dist:
    def __init__(self, folder: Path) -> None:
        [self.sdist] = folder.glob("*.tar.gz")
        [self.wheel] = folder.glob("*.whl")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, env=PIP_ENV, cwd=ROOT)
    return Dist(out)


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its dependencies, at the locked versions."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    run(sys.executable, "-m", "venv", venv, env=PIP_ENV)
    # Constraints, not requirements: pip picks what the wheel needs, at the locked versions.
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(locked_pins()) + "\n", encoding="utf-8")
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--only-binary",
        ":all:",
        "--constraint",
        constraints,
        dist.wheel,
        env=PIP_ENV,
        cwd=venv,
    )
    return venv


def locked_pins() -> list[str]:
    """'name==version ; marker' for each pin of the lock."""
    joined = re.sub(r"\\\n\s*", " ", LOCK.read_text(encoding="utf-8"))
    pins = []
    for line in joined.splitlines():
        if line and not line.startswith(("#", " ", "-")):
            pins.append(line.split(" --hash", 1)[0].strip())
    return pins


def test_build_names_the_version_of_tvmcli(dist: Dist) -> None:
    assert dist.sdist.name == f"momento_tvm-{__version__}.tar.gz"
    assert dist.wheel.name == f"momento_tvm-{__version__}-py3-none-any.whl"


def test_sdist_and_wheel_carry_the_license(dist: Dist) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in license_text
    assert b"Version 2.0, January 2004" in license_text
    assert b"APPENDIX: How to apply the Apache License to your work." in license_text
    prefix = f"momento_tvm-{__version__}"
    with tarfile.open(dist.sdist) as sdist:
        member = sdist.extractfile(f"{prefix}/LICENSE")
        assert member is not None
        assert member.read() == license_text
    with zipfile.ZipFile(dist.wheel) as wheel:
        assert wheel.read(f"{prefix}.dist-info/licenses/LICENSE") == license_text
        metadata = HeaderParser().parsestr(wheel.read(f"{prefix}.dist-info/METADATA").decode())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Version"] == __version__


def test_wheel_holds_every_module_of_the_package(dist: Dist) -> None:
    """Python modules, py.typed, and the browser helper (server/static/client.js) that
    `serve` hands out and apps may vendor."""
    sources = {
        path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src" / "tvmcli").rglob("*")
        if path.suffix in (".py", ".typed", ".js", ".toml") and "__pycache__" not in path.parts
    }
    assert "tvmcli/server/static/client.js" in sources
    with zipfile.ZipFile(dist.wheel) as wheel:
        assert sources <= set(wheel.namelist())
    with tarfile.open(dist.sdist) as sdist:
        in_sdist = {name.split("/src/", 1)[-1] for name in sdist.getnames()}
    assert sources <= in_sdist


def test_twine_check_passes(dist: Dist) -> None:
    out = run(BIN / "twine", "check", "--strict", dist.sdist, dist.wheel, env=PIP_ENV)
    assert out.count("PASSED") == 2


def test_installed_wheel_reports_its_version(installed: Path) -> None:
    where = run(installed / "bin" / "python", "-c", "import tvmcli; print(tvmcli.__file__)")
    assert Path(where.strip()).is_relative_to(installed)  # the wheel, not this checkout
    out = run(installed / "bin" / "momento-tvm", "--version", cwd=installed)
    assert __version__ in out


def test_installed_wheel_serves_the_browser_helper(installed: Path) -> None:
    from tvmcli.server.client_script import ClientScript

    code = "from tvmcli.server.client_script import ClientScript; print(ClientScript().etag)"
    assert run(installed / "bin" / "python", "-c", code, cwd=installed).strip() == (
        ClientScript().etag
    )


def test_installed_wheel_writes_the_starter_profiles_file(installed: Path, tmp_path: Path) -> None:
    """pip and pipx users have no checkout: the example ships in the wheel."""
    target = tmp_path / "profiles.toml"
    run(installed / "bin" / "momento-tvm", "profiles", "init", target, cwd=tmp_path)
    assert target.read_text() == (ROOT / "profiles.example.toml").read_text()


@pytest.mark.usefixtures("emulator_env")  # MOMENTO_API_KEY and MOMENTO_ENDPOINT: the emulator
def test_installed_wheel_mints_from_the_emulator(installed: Path, tmp_path: Path) -> None:
    tvm = installed / "bin" / "momento-tvm"
    config = ROOT / "profiles.example.toml"
    mint = [tvm, "mint", "chat-reader", "--config", config, "--output", "raw"]
    token = run(*mint, cwd=tmp_path, timeout=60).strip()
    envelope = json.loads(base64.b64decode(token))
    assert envelope["endpoint"] == os.environ["MOMENTO_ENDPOINT"]
    assert envelope["api_key"] != os.environ["MOMENTO_API_KEY"]
    report = json.loads(
        run(tvm, "inspect", "-", "--output", "json", input=token, cwd=tmp_path, timeout=60)
    )
    assert report["kind"] == "disposable-token"
    assert report["status"] == "valid"
    assert {"resource": "topic", "role": "subscribe-only", "cache": "chat"}.items() <= report[
        "permissions"
    ][0].items()


# scripts/release-notes: the GitHub release's text, and the tag check of the release workflow


def release_notes(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "release-notes"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_release_notes_of_this_version_come_from_the_changelog() -> None:
    result = release_notes()
    assert result.returncode == 0, result.stderr
    assert result.stdout == release_notes(__version__).stdout
    assert result.stdout.startswith("### ")
    assert "\n- " in result.stdout
    assert "\n## " not in result.stdout


def test_release_refuses_a_tag_that_is_not_the_version() -> None:
    result = release_notes("--tag", f"v{__version__}.post9")
    assert result.returncode == 1
    assert "does not match the version" in result.stderr
    assert result.stdout == ""


def fake_checkout(tmp_path: Path, changelog: str, version: str = "1.2.0") -> Path:
    (tmp_path / "scripts").mkdir(parents=True)
    (tmp_path / "scripts" / "release-notes").write_bytes(
        (ROOT / "scripts" / "release-notes").read_bytes()
    )
    (tmp_path / "src" / "tvmcli").mkdir(parents=True)
    (tmp_path / "src" / "tvmcli" / "version.py").write_text(f'__version__ = "{version}"\n')
    (tmp_path / "CHANGELOG.md").write_text(changelog)
    return tmp_path


CHANGELOG = """\
# Changelog

Intro.

## [Unreleased]

### Added

- Next thing.

## [1.2.0] - 2026-12-01

### Fixed

- A fix.

## 1.1.0 - 2026-11-01

### Added

- Old thing.

[1.2.0]: https://example.com/compare/v1.1.0...v1.2.0
"""


def test_release_notes_for_a_dated_tag(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path, CHANGELOG)
    result = release_notes("--tag", "v1.2.0", root=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "### Fixed\n\n- A fix.\n"
    assert release_notes("1.1.0", root=root).stdout == "### Added\n\n- Old thing.\n"


def test_release_refuses_an_undated_or_missing_section(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path, CHANGELOG.replace("[1.2.0] - 2026-12-01", "1.2.0 - Unreleased"))
    result = release_notes("--tag", "v1.2.0", root=root)
    assert result.returncode == 1
    assert "does not date 1.2.0" in result.stderr
    result = release_notes(
        "--tag", "v1.3.0", root=fake_checkout(tmp_path / "b", CHANGELOG, "1.3.0")
    )
    assert result.returncode == 1
    assert "no section for 1.3.0" in result.stderr


def test_changelog_keeps_the_keep_a_changelog_shape() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    assert "https://semver.org/" in text
    versions = re.findall(r"^## (.*)$", text, re.M)
    assert versions, "no version sections"
    for heading in versions:
        assert re.fullmatch(
            r"\[Unreleased\]|\[?\d+\.\d+\.\d+[^\]\s]*\]? - (\d{4}-\d{2}-\d{2}|Unreleased)", heading
        ), heading
    groups = set(re.findall(r"^### (.*)$", text, re.M))
    assert groups <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, groups


# requirements/dev.lock and run.lock: what scripts/bootstrap installs


def load_script(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / "scripts" / name))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_lock_pins_everything_pyproject_and_build_in_ask_for() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    build_in = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8")
    wanted += [line for line in build_in.splitlines() if line and not line.startswith("#")]
    pinned: dict[str, list[str]] = {}
    for pin in locked_pins():
        name, version = pin.split(";", 1)[0].strip().split("==")
        pinned.setdefault(name.lower().replace("_", "-"), []).append(version)
    for text in wanted:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-").replace(".", "-")
        assert name in pinned, f"{text} is not in the lock: run scripts/lock"
        assert any(requirement.specifier.contains(v, prereleases=True) for v in pinned[name]), (
            f"the lock's {name} {pinned[name]} does not satisfy {text}: run scripts/lock"
        )
    # the editable install is built with the locked backend: it must be what pyproject asks for
    build_names = {Requirement(r).name for r in pyproject["build-system"]["requires"]}
    assert build_names <= {Requirement(line).name for line in wanted}


def test_every_pin_of_the_lock_has_a_hash() -> None:
    joined = re.sub(r"\\\n\s*", " ", LOCK.read_text(encoding="utf-8"))
    entries = [line for line in joined.splitlines() if line and not line.startswith(("#", " "))]
    assert len(entries) > 50
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry
    assert "scripts/lock" in LOCK.read_text(encoding="utf-8").splitlines()[1]


def lock_entries(lock: Path) -> dict[str, set[str]]:
    """'name==version' (without its marker) -> its hashes, for each pin of a lock."""
    joined = re.sub(r"\\\n\s*", " ", lock.read_text(encoding="utf-8"))
    entries: dict[str, set[str]] = {}
    for line in joined.splitlines():
        if line and not line.startswith(("#", " ", "-")):
            pin = line.split(" --hash", 1)[0].split(";", 1)[0].strip()
            entries[pin] = set(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
    return entries


def test_the_runtime_lock_is_the_dev_locks_pins_for_momento_tvm_alone() -> None:
    """scripts/demo installs requirements/run.lock; scripts/test later installs dev.lock into the
    same .venv. So every runtime pin is a dev pin with the same hashes, the runtime lock holds
    what pyproject's dependencies and build.in ask for, and none of the test tools."""
    run_lock = lock_entries(ROOT / "requirements" / "run.lock")
    dev_lock = lock_entries(LOCK)
    assert run_lock, "requirements/run.lock has no pins: run scripts/lock"
    for pin, hashes in run_lock.items():
        assert pin in dev_lock, f"{pin} of run.lock is not pinned so in dev.lock: run scripts/lock"
        assert hashes, pin
        assert hashes == dev_lock[pin], pin
    names = {pin.split("==")[0] for pin in run_lock}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    build_in = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8").splitlines()
    for text in [*project["dependencies"], *(r for r in build_in if r and r[0] != "#")]:
        assert Requirement(text).name.lower() in names, f"{text} is not in run.lock"
    assert not names & {"pytest", "mypy", "ruff", "hypothesis", "mkdocs", "mkdocs-material"}
    assert "scripts/lock" in (ROOT / "requirements" / "run.lock").read_text().splitlines()[1]


def test_bootstrap_refuses_an_unknown_option() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap"), "--runtime"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stderr) == (2, "usage: scripts/bootstrap [--run]\n")


def test_audit_lists_every_pin_and_summarises_findings(capsys: pytest.CaptureFixture[str]) -> None:
    audit = load_script("audit")
    listed = run(sys.executable, ROOT / "scripts" / "audit", "--list").split()
    assert listed == [pin.split(";", 1)[0].strip() for pin in locked_pins()]
    assert [len(b) for b in audit.batches(["a==1 --hash=x", "b==1", "a==2"])] == [2, 1]

    clean = {"dependencies": [{"name": "a", "version": "1", "vulns": []}]}
    assert audit.summarise(clean) == 0
    found = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": []},
            {
                "name": "b",
                "version": "2",
                "vulns": [
                    {
                        "id": "PYSEC-1",
                        "fix_versions": ["2.1"],
                        "aliases": ["CVE-1"],
                        "description": "Bad.",
                    }
                ],
            },
        ]
    }
    assert audit.summarise(found) == 1
    assert "b 2: PYSEC-1 (CVE-1)\n    fixed in: 2.1\n    Bad." in capsys.readouterr().out
    skipped = {"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI"}]}
    assert audit.summarise(skipped) == 2
    assert "NOT AUDITED" in capsys.readouterr().out
