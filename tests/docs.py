"""The user documentation as the tests read it: README.md, then the docs site's pages
(docs/, built by MkDocs) in the order of mkdocs.yml's `nav`, which is the order a reader
meets them and the order tests/test_readme_blocks.py runs their blocks in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _nav_files(entry: Any) -> list[str]:
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, list):
        return [name for item in entry for name in _nav_files(item)]
    if isinstance(entry, dict):
        return [name for value in entry.values() for name in _nav_files(value)]
    raise TypeError(f"unexpected nav entry {entry!r}")


def nav_pages() -> list[Path]:
    """The docs site's pages in nav order."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return [DOCS / name for name in _nav_files(config["nav"])]


def pages() -> list[Path]:
    """README.md, then every page of the site in nav order."""
    return [ROOT / "README.md", *nav_pages()]


def page(name: str) -> str:
    """One page's text, by its path under docs/ (`"python.md"`, `"serve/browser.md"`)."""
    return (DOCS / name).read_text(encoding="utf-8")


def all_text() -> str:
    """The README and every page, joined in reading order."""
    return "\n".join(path.read_text(encoding="utf-8") for path in pages())


def section(text: str, heading: str) -> str:
    """The part of a page under `heading` (a whole heading line such as `"## Profiles"`), up to
    the next heading of the same or a higher level; `#` lines inside code blocks are code."""
    level = len(heading.split(" ", 1)[0])
    lines = text.splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    fenced = False
    for number in range(start, len(lines)):
        line = lines[number]
        if line.startswith("```"):
            fenced = not fenced
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < marks <= level and line[marks : marks + 1] == " ":
            return "".join(lines[start:number])
    return "".join(lines[start:])
