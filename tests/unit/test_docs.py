"""The README stays a five-minute read, and every link between it and docs/ leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)]*)?\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return "#" + re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_at_most_400_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 400


def test_every_link_to_a_page_and_its_heading_resolves() -> None:
    broken = []
    for page in PAGES:
        for target, fragment in LINK.findall(page.read_text()):
            found = (page.parent / target).resolve()
            if not found.is_file():
                broken.append(f"{page.name}: {target}")
            elif fragment:
                headings = re.findall(r"^#+ (.*)$", found.read_text(), re.M)
                if fragment not in {anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target}{fragment}")
    assert broken == []


def test_the_readme_s_contents_line_names_its_own_headings() -> None:
    text = (ROOT / "README.md").read_text()
    headings = {anchor(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    wanted = re.findall(r"\]\((#[^)]+)\)", text)
    assert wanted and [w for w in wanted if w not in headings] == []


def test_the_molecule_pages_scenarios_are_the_ones_the_e2e_test_runs() -> None:
    """docs/molecule.md's molecule.yml examples are, byte for byte, scenarios tests/e2e/test_molecule.py runs."""
    page = (ROOT / "docs" / "molecule.md").read_text()
    yaml_blocks = re.findall(r"^```yaml\n(.*?)^```$", page, re.M | re.S)
    scenarios = ROOT / "tests" / "e2e" / "roles" / "webstack" / "molecule"
    for name in ("default", "bastion"):
        assert (scenarios / name / "molecule.yml").read_text() in yaml_blocks, name
