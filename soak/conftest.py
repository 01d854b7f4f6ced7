"""The soak run's report: the distribution of ready times, and what the run left on the engine and in the
host's cgroup trees, which fails it."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness import labels
from harness.cache import SESSION as PACKAGE_CACHE
from harness.engine import docker_client
from harness.errors import EngineUnavailable

_TIMES = pytest.StashKey[Path]()
_REPORT = pytest.StashKey[list[str]]()
_BEFORE = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Where the ready times go, a line each, appended by every test: the controller's file, given to workers."""
    worker = getattr(config, "workerinput", None)
    where = worker["soak_times"] if worker else Path(tempfile.mkdtemp(prefix="vps-harness-soak-")) / "times"
    config.stash[_TIMES] = Path(where)
    if not worker:  # what another run on this engine has now is not this run's to answer for
        with contextlib.suppress(EngineUnavailable):  # no engine: every test says so itself
            config.stash[_BEFORE] = set(_labelled())


def pytest_configure_node(node: Any) -> None:
    """xdist: each worker appends to the controller's file."""
    node.workerinput["soak_times"] = str(node.config.stash[_TIMES])


@pytest.fixture(autouse=True)
def _images_first(request: pytest.FixtureRequest) -> None:
    """The images exist before the first start: a ready time is never a build's."""
    request.getfixturevalue("vps_prepared")


@pytest.fixture
def ready_times(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.stash[_TIMES]


def _labelled() -> list[str]:
    """Every labelled container, network and volume but the package cache's, and every VPS cgroup at the top of
    a named systemd hierarchy the host mounts (this machine's; a VPS's own cgroup is there on cgroup-v2
    engines, where the harness runs a VPS in its own cgroup namespace; a pure cgroup-v2 host mounts none)."""
    client = docker_client()
    found = [
        f"container {c.name}"
        for c in client.containers.list(all=True, filters={"label": labels.SESSION})
        if c.labels.get(labels.SESSION) != PACKAGE_CACHE
    ]
    found += [f"network {n.name}" for n in client.networks.list(filters={"label": labels.SESSION})]
    found += [
        f"volume {v.name}"
        for v in client.volumes.list(filters={"label": labels.SESSION})
        if (v.attrs.get("Labels") or {}).get(labels.SESSION) != PACKAGE_CACHE
    ]
    named = [
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if "name=systemd" in line
    ]
    for where in named:
        found += [f"cgroup {p}" for p in Path(where).glob("vps-*")]
    return found


def _leftovers(config: pytest.Config) -> list[str]:
    if _BEFORE not in config.stash:
        return []
    before = config.stash[_BEFORE]
    return [thing for thing in _labelled() if thing not in before]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    times_file = session.config.stash[_TIMES]
    times = sorted(float(line) for line in times_file.read_text().split()) if times_file.exists() else []
    shutil.rmtree(times_file.parent, ignore_errors=True)
    report = []
    if times:
        cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
        report.append(
            f"soak: {len(times)} VPSes ready: min {times[0]:.2f} s, median {statistics.median(times):.2f} s, "
            f"p90 {cuts[89]:.2f} s, p99 {cuts[98]:.2f} s, max {times[-1]:.2f} s"
        )
        width = max(0.25, (times[-1] - times[0]) / 10)
        for step in range(10):
            low = times[0] + step * width
            count = sum(low <= t < low + width or (step == 9 and t == times[-1]) for t in times)
            report.append(f"soak:   {low:5.2f}-{low + width:5.2f} s {'#' * count} {count}")
    left = _leftovers(session.config)
    report.append(f"soak: left behind: {', '.join(left) if left else 'nothing'}")
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[_REPORT] = report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for line in config.stash.get(_REPORT, []):
        terminalreporter.write_line(line)
