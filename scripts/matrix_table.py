"""Write the OS x check table of `make matrix` into a Markdown page (docs/matrix.md), from one junit XML per OS.

    python scripts/matrix_table.py DIR docs/matrix.md [NAME]

NAME (default ``matrix``) names the markers the table goes between: ``<!-- NAME:start -->``,
``<!-- NAME:end -->`` (``matrix-cgroup2`` for the cgroup-v2 engine's table).

A run of some OSes (``make matrix MATRIX_SPECS=...``) replaces their columns and keeps the
other OSes' columns as the page had them, notes renumbered.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.spec import SUPPORTED

SUPPORTED_NAMES = {str(spec) for spec in SUPPORTED}


def outcome(case: ET.Element, notes: list[str]) -> str:
    """A cell: pass, expected (a pass of the OS's expected behaviour, with its reasons), or a
    skip/FAIL/ERROR with a numbered note below the table (``notes``, shared, deduplicated)."""
    for kind, word in (("failure", "FAIL"), ("error", "ERROR"), ("skipped", "skip")):
        found = case.find(kind)
        if found is not None:
            return f"{word} [{note(found.get('message') or kind, notes)}]"
    expected = [p.get("value", "") for p in case.iter("property") if p.get("name") == "expected"]
    return "expected: " + "; ".join(expected) if expected else "pass"


def note(message: str, notes: list[str]) -> int:
    """The number of ``message``'s note: its first line, without the per-test lead ("no X on this
    machine: ") and without an engine error's address (the README names no registry host)."""
    text = re.sub(r"^no .*? on this machine: ", "", message.splitlines()[0])
    return numbered(re.sub(r"\s*\([^()]*://[^()]*\)", "", text).replace("|", "/").strip(), notes)


def numbered(text: str, notes: list[str]) -> int:
    """The number of the note ``text`` (as it is) in ``notes``, added when new."""
    if text not in notes:
        notes.append(text)
    return notes.index(text) + 1


def table_on_page(block: str) -> tuple[dict[str, dict[str, str]], list[str], list[str]]:
    """The columns (OS: check: cell), the checks (as shown) and the notes of a table this script wrote."""
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    notes = [re.sub(r"^\[\d+\] ", "", line).rstrip() for line in block.splitlines() if re.match(r"^\[\d+\] ", line)]
    if not rows:
        return {}, [], notes
    specs = [cell.strip() for cell in rows[0].strip("|").split("|")][1:]
    columns: dict[str, dict[str, str]] = {spec: {} for spec in specs}
    checks = []
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        checks.append(cells[0])
        for spec, cell in zip(specs, cells[1:]):
            columns[spec][cells[0]] = cell
    return columns, checks, notes


def renumbered(cell: str, old: list[str], notes: list[str]) -> str:
    """``cell`` (``skip [n]``, ``FAIL [n]``, ``ERROR [n]``: a note of ``old``) numbered as that note is in ``notes``;
    any other cell as it is."""
    found = re.fullmatch(r"(skip|FAIL|ERROR) \[(\d+)\]", cell)
    if found is None or not 1 <= int(found[2]) <= len(old):
        return cell
    return f"{found[1]} [{numbered(old[int(found[2]) - 1], notes)}]"


def main(directory: str, readme: str, name: str = "matrix") -> int:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    results: dict[str, dict[str, str]] = {}
    checks: list[str] = []
    notes: list[str] = []
    for xml in sorted(Path(directory).glob("*.xml")):
        spec = re.sub(r"^(ubuntu|debian|centos|rockylinux)-", r"\1:", xml.stem)
        for case in ET.parse(xml).getroot().iter("testcase"):
            check = re.sub(r"^test_|\[.*\]$", "", case.get("name", ""))
            if check not in checks:
                checks.append(check)
            cells = results.setdefault(spec, {})
            # A test whose call failed and whose teardown then erred has two testcases: the first tells why.
            if not cells.get(check, "").startswith(("FAIL", "ERROR")):
                cells[check] = outcome(case, notes)
    text = Path(readme).read_text()
    if start not in text or end not in text:
        print(f"matrix_table: {readme} has no {start} ... {end} markers", file=sys.stderr)
        return 1
    head, rest = text.split(start, 1)
    block, tail = rest.split(end, 1)
    # As shown: the checks' names with spaces, the cells with no "|".
    shown = {
        spec: {c.replace("_", " "): v.replace("|", "/") for c, v in cells.items()} for spec, cells in results.items()
    }
    order = [check.replace("_", " ") for check in checks]
    kept, kept_checks, old_notes = table_on_page(block)
    columns: dict[str, dict[str, str]] = {}
    # An OS the harness no longer supports leaves the table.
    for spec in sorted({*(spec for spec in kept if spec in SUPPORTED_NAMES), *shown}):
        if spec in shown:
            columns[spec] = shown[spec]
        else:  # an OS this run did not cover: its column as the page had it
            columns[spec] = {check: renumbered(cell, old_notes, notes) for check, cell in kept[spec].items()}
    # The page's rows in the page's order, then checks new in this run; a row no OS has any more goes.
    order = kept_checks + [check for check in order if check not in kept_checks]
    lines = ["| check | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for check in order:
        cells = [columns[spec].get(check, "-") for spec in columns]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {check} | " + " | ".join(cells) + " |")
    if notes:
        lines += [""] + [f"[{number}] {text}  " for number, text in enumerate(notes, 1)]
    Path(readme).write_text(f"{head}{start}\n" + "\n".join(lines) + f"\n{end}{tail}")
    failed = sum(cell.startswith(("FAIL", "ERROR")) for spec in results.values() for cell in spec.values())
    print(
        f"matrix_table: {len(checks)} checks on {len(results)} OSes run ({len(columns)} in the table), {failed} failed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
