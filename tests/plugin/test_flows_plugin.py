"""The flows are a plugin a suite enables: the core plugin alone gives none of their fixtures or options."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

WORLD_TEST = """
def test_world(jenkins_slave0):
    pass
"""


def test_the_core_plugin_alone_has_no_flow_fixture_or_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORLD_TEST)
    fixtures = pytester.runpytest("--fixtures").stdout.str()
    assert "jenkins_slave0" not in fixtures and "vps_factory" in fixtures
    result = pytester.runpytest("--vps-snapshots=off", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --vps-snapshots=off*"])


def test_a_suite_enables_the_flows_plugin_by_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORLD_TEST)
    pytester.makeconftest('pytest_plugins = ["harness.flows.fixtures"]\n')
    fixtures = pytester.runpytest("--fixtures").stdout.str()
    assert all(name in fixtures for name in ("jenkins_slave0", "ci_registry", "concurrent_builds", "deploy_daemon"))
    result = pytester.runpytest("--vps-snapshots=off", "--collect-only", "-q", "--vps=debian:12")
    result.stdout.fnmatch_lines(["*test_world[[]debian-12[]]*"])
