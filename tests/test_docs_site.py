"""The docs site builds, strictly, and the README stays a page a newcomer reads on one screen
and a half, pointing at every page of the site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.docs import DOCS, ROOT, nav_pages

BIN = Path(sys.executable).parent


def test_the_docs_site_builds_with_strict_checks(tmp_path: Path) -> None:
    # --strict turns every warning into a failure: a broken link or anchor between pages, a
    # page not in nav, a nav entry with no page.
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for page in nav_pages():
        built = page.relative_to(DOCS).with_suffix("")
        html = (
            tmp_path
            / "site"
            / (built.parent / "index.html" if built.name == "index" else built / "index.html")
        )
        assert html.is_file(), html
    # The home page takes the README's Install and First steps (its --8<-- markers), whole.
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="first-steps">First steps' in home
    assert "profiles init" in home
    assert "--8&lt;--" not in home
    assert "--8<--" not in home.replace("<!-- --8<-- [", "")


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    on_disk = sorted(DOCS.rglob("*.md"))
    assert sorted(nav_pages()) == on_disk
    assert len(on_disk) >= 8


def test_the_readme_fits_on_a_screen_and_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)(?:#[^)]*)?\)", readme))
    assert linked == {str(page.relative_to(ROOT)) for page in nav_pages()}
