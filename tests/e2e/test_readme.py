"""Every example in the README and in docs/ runs as written.

Code blocks whose first line is ``# file: NAME`` are written to a folder
under that name (the bootstrap script, the playbook, the test modules); the
test modules then run in one pytest run on the test's OS, and every other
Python block runs as a script in that folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.spec import OsSpec, parse_specs
from tests.e2e import inner_engine
from tests.e2e.environment import clean_env, sweeping_apart

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.docker

README = Path(__file__).resolve().parents[2] / "README.md"
#: The README and the pages of docs/: their examples run alike.
PAGES = (README, *sorted((README.parent / "docs").glob("*.md")))
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
FILE = re.compile(r"^#!.*\n# file: (\S+)\n|^# file: (\S+)\n")


def blocks() -> list[tuple[str, str, str]]:
    """(language, file name or "", code) of every fenced block of the README and docs/."""
    found = []
    for language, code in (block for page in PAGES for block in BLOCK.findall(page.read_text())):
        named = FILE.match(code)
        found.append((language, (named.group(1) or named.group(2)) if named else "", code))
    return found


def user_env() -> dict[str, str]:
    """A user's shell with the project's virtualenv active (ansible-playbook, vps-harness on PATH)."""
    return clean_env(PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")


def test_the_readme_has_examples_to_run() -> None:
    found = blocks()
    assert {name for _, name, _ in found} >= {"bootstrap.sh", "test_bootstrap.py", "site.yml", "test_role.py"}
    assert any(language == "python" and not name for language, name, _ in found)


def write_files(folder: Path) -> list[str]:
    """Write the README's named blocks into ``folder``; the other Python blocks, as written."""
    scripts = []
    for language, name, code in blocks():
        if name:
            path = folder / name
            path.write_text(code)
            if code.startswith("#!"):
                path.chmod(0o755)
        elif language == "python":
            scripts.append(code)
    return scripts


def test_every_readme_test_runs_as_written(
    spec: OsSpec, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if spec.package_family != "apt":
        pytest.skip(f"the README's examples are written for apt-family servers (apt-get, cron), not {spec}")
    write_files(tmp_path)
    tests = sorted(path.name for path in tmp_path.glob("test_*.py"))
    with sweeping_apart(tmp_path_factory):
        run = subprocess.run(
            # -p: a test whose VPS can run no Docker on this engine skips saying why (tests/e2e/inner_engine.py)
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.e2e.inner_engine", "-q", "-rs"]
            + [f"--vps={spec}", *tests],
            cwd=tmp_path,
            env={**user_env(), "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    collected = sum(len(re.findall(r"^def test_", (tmp_path / test).read_text(), re.M)) for test in tests)
    skipped = re.findall(r"^SKIPPED \[\d+\] (.*)$", run.stdout, re.M)
    assert all(inner_engine.SAID in reason for reason in skipped), skipped
    passed = collected - sum(int(n) for n in re.findall(r"^SKIPPED \[(\d+)\]", run.stdout, re.M))
    assert re.search(rf"\b{passed} passed\b", run.stdout), run.stdout[-2000:]


def test_every_readme_script_runs_as_written(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    scripts = write_files(tmp_path)
    matrix = {str(spec) for spec in parse_specs(pytestconfig.getoption("vps") or pytestconfig.getini("vps"))}
    named = {name for code in scripts for name in re.findall(r'"((?:ubuntu|debian):[\d.]+)"', code)}
    if not named <= matrix:
        pytest.skip(f"the README's scripts use {', '.join(sorted(named - matrix))}, outside this run's matrix")
    for code in scripts:
        script = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=user_env(), capture_output=True, text=True, timeout=600
        )
        assert script.returncode == 0, f"{code}\n{script.stdout}\n{script.stderr}"
