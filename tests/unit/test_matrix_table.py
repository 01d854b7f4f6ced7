"""make matrix's table: a run of some OSes replaces their columns and keeps the others', rows in the page's order,
notes renumbered."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "matrix_table.py"
spec = importlib.util.spec_from_file_location("matrix_table", SCRIPT)
assert spec is not None and spec.loader is not None
matrix_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix_table)

PAGE = """# The flow matrix

<!-- matrix:start -->
| check | debian:12 | ubuntu:22.04 |
|---|---|---|
| hops work | skip [1] | FAIL [2] |
| proxy limits | pass | pass |

[1] no rpm base{BREAK}
[2] laptop reaches the VM{BREAK}
<!-- matrix:end -->
after
""".replace("{BREAK}", "  ")  # a Markdown line break after each note, as the script writes them

# In another order than the page's rows (xdist's), which the table keeps.
XML = """<testsuites><testsuite>
<testcase name="test_proxy_limits[ubuntu-22.04]">
<skipped message="no ubuntu:22.04 VPS on this machine: gone"/></testcase>
<testcase name="test_hops_work[ubuntu-22.04]"/>
</testsuite></testsuites>"""


def test_a_run_of_one_os_keeps_the_other_columns(tmp_path: Path) -> None:
    page = tmp_path / "matrix.md"
    page.write_text(PAGE)
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "ubuntu-22.04.xml").write_text(XML)
    assert matrix_table.main(str(tmp_path / "xml"), str(page)) == 0
    assert page.read_text() == (
        "# The flow matrix\n\n<!-- matrix:start -->\n"
        "| check | debian:12 | ubuntu:22.04 |\n|---|---|---|\n"
        "| hops work | skip [2] | pass |\n"
        "| proxy limits | pass | skip [1] |\n\n"
        "[1] gone  \n[2] no rpm base  \n"
        "<!-- matrix:end -->\nafter\n"
    )


def test_only_a_skip_fail_or_error_cell_is_renumbered() -> None:
    notes: list[str] = []
    old = ["gone", "no base"]
    assert matrix_table.renumbered("FAIL [2]", old, notes) == "FAIL [1]" and notes == ["no base"]
    assert matrix_table.renumbered("expected: arr[0] is empty", old, notes) == "expected: arr[0] is empty"
    assert matrix_table.renumbered("skip [9]", old, notes) == "skip [9]"


def test_an_os_the_harness_no_longer_supports_leaves_the_table(tmp_path: Path) -> None:
    page = tmp_path / "matrix.md"
    page.write_text(PAGE.replace("debian:12", "debian:10"))
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "ubuntu-22.04.xml").write_text(XML)
    assert matrix_table.main(str(tmp_path / "xml"), str(page)) == 0
    assert "debian:10" not in page.read_text()
