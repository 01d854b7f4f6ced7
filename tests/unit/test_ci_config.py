"""The CI workflow and tox run each e2e leg against its own OS, not the same suite every time."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.spec import SUPPORTED, parse_spec

ROOT = Path(__file__).resolve().parents[2]


def test_each_workflow_leg_runs_its_own_os() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    e2e = workflow["jobs"]["e2e"]
    legs = e2e["strategy"]["matrix"]["vps"]
    assert {parse_spec(leg) for leg in legs} == set(SUPPORTED), "every supported OS has its leg"
    runs = [step["run"] for step in e2e["steps"] if "run" in step]
    assert any(re.search(r"make test .*--vps=\$\{\{ matrix\.vps \}\}", run) for run in runs), runs


def test_each_tox_e2e_env_runs_its_own_os() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    section = next(name for name in tox.sections() if name.startswith("testenv:e2e-"))
    assert "--vps={env:E2E_OS}" in tox[section]["commands"]
    chosen = dict(re.findall(r"^\s*([\w.-]+): E2E_OS = (\S+)$", tox[section]["setenv"], re.M))
    assert {parse_spec(value) for value in chosen.values()} == set(SUPPORTED)
    assert all(parse_spec(value).id == env for env, value in chosen.items()), chosen


def test_the_e2e_legs_run_on_cgroup_v2_runners_with_their_images_cached_by_their_key() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    e2e = workflow["jobs"]["e2e"]
    assert e2e["runs-on"] == "${{ matrix.runner }}"
    assert e2e["strategy"]["matrix"]["runner"] == ["ubuntu-22.04", "ubuntu-24.04"], "both run Docker on cgroup v2"
    steps = e2e["steps"]
    key = next(step for step in steps if step.get("id") == "images")
    assert "vps-harness images key '${{ matrix.vps }}'" in key["run"]
    cache = next(step for step in steps if step.get("id") == "cache")
    assert cache["uses"].startswith("actions/cache@") and cache["with"]["key"] == "${{ steps.images.outputs.key }}"
    order = [step.get("run", "") for step in steps]
    load = next(i for i, run in enumerate(order) if "images load" in run)
    test = next(i for i, run in enumerate(order) if run.startswith("make test"))
    save = next(i for i, run in enumerate(order) if "images save" in run)
    assert load < test < save, "load before the suite, save what it built after"
    assert steps[load]["if"] == "steps.cache.outputs.cache-hit == 'true'"
    assert steps[save]["if"] == "steps.cache.outputs.cache-hit != 'true'"


def test_each_legs_suite_is_split_over_two_jobs_by_recorded_durations() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    e2e = workflow["jobs"]["e2e"]
    assert e2e["strategy"]["matrix"]["group"] == [1, 2]
    test = next(step["run"] for step in e2e["steps"] if step.get("run", "").startswith("make test"))
    for option in ("--splits 2", "--group ${{ matrix.group }}", "--splitting-algorithm least_duration"):
        assert option in test, test
    assert "--durations-path .ci/test_durations" in test
    assert 'make test DURATIONS="$PWD/.ci/test_durations"' in (ROOT / ".ci" / "run").read_text()
    assert "--store-durations --durations-path $(DURATIONS)" in (ROOT / "Makefile").read_text()


def test_the_split_on_this_machine_puts_every_test_in_one_group_and_leaves_none_empty() -> None:
    """The workflow's split, run here on the suite as collected for one OS: two groups, each test in one."""
    pytest.importorskip("pytest_split", reason="pytest-split installs on Python 3.10 and later only")
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--vps=debian:12"]
    split = ["--splits", "2", "--splitting-algorithm", "least_duration", "--durations-path", ".ci/test_durations"]

    def collected(*args: str) -> set[str]:
        run = subprocess.run([*collect, *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return {line for line in run.stdout.splitlines() if "::" in line}

    groups = [collected(*split, "--group", str(group)) for group in (1, 2)]
    every = collected()
    assert groups[0] and groups[1]
    assert not groups[0] & groups[1]
    assert groups[0] | groups[1] == every
