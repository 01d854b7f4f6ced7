"""The CI workflow and tox run each e2e leg against its own OS, not the same suite every time."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

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
