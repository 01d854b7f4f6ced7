"""pytest hooks of vps-harness: options, markers, the OS matrix, reports. Hooks only.

Importing it (and the fixtures it names) is cheap: Docker's, requests' and
paramiko's clients are imported by the hooks and fixtures that reach an
engine, so a pytest run that starts no VPS does not load them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from typing import cast

import pytest

from harness.config import HarnessConfig, engine_url
from harness.errors import ConfigError, EngineUnavailable, UnknownOsSpec
from harness.labels import new_session_id
from harness.spec import parse_specs
from harness.state import (
    ENGINE_USED,
    FAILED,
    FLEET,
    PREPARE_CHOICES,
    SETTINGS,
    SWEPT_BY_CONTROLLER,
    Prepare,
    RunSettings,
    terminal_progress,
    worker_id,
)
from harness.want import DOCKER_MODES

pytest_plugins = ["harness.fixtures"]

DEFAULT_MATRIX = "debian:12"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vps-harness", "mock VPS containers")
    group.addoption(
        "--vps",
        action="append",
        default=[],
        metavar="SPEC[,SPEC]",
        help=f"OS matrix of tests using a VPS (repeatable, comma-separated; default: ini 'vps', else {DEFAULT_MATRIX})",
    )
    group.addoption(
        "--vps-keep-failed",
        action="store_true",
        help="keep the VPSes of failed tests running and print how to ssh in (`vps-harness gc` clears them)",
    )
    group.addoption(
        "--vps-docker",
        default="none",
        choices=DOCKER_MODES,
        help="Docker in every VPS: none, dind (its own engine), bare (no Docker yet: its provisioning installs "
        "the engine) or socket (the host's, mounted); default: none",
    )
    group.addoption(
        "--vps-prepare",
        default=None,
        choices=PREPARE_CHOICES,
        help="before the first test that needs a VPS, build the matrix's images (images) and their "
        "Docker-in-Docker images (dind), with progress lines; default: ini 'vps_prepare', else no",
    )
    group.addoption(
        "--vps-engine",
        action="append",
        default=[],
        metavar="URL",
        help="a Docker engine to run VPSes on (repeatable: xdist workers are spread over them; unix://, tcp:// "
        "or ssh:// URLs); default: VPS_HARNESS_ENGINES, else DOCKER_HOST or the docker context",
    )
    parser.addini("vps", "OS matrix when --vps is not given", type="args", default=[DEFAULT_MATRIX])
    parser.addini("vps_prepare", "what --vps-prepare builds when it is not given: no, images or dind", default="no")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "vps(os=[...], init='systemd'|'sshd', docker='none'|'dind'|'bare'|'socket'): narrow a test's OS matrix "
        "or configure its VPS",
    )
    values = config.getoption("vps") or config.getini("vps")
    try:
        matrix = parse_specs(values)
    except UnknownOsSpec as e:
        raise pytest.UsageError(f"--vps: {e}") from None
    if not matrix:
        raise pytest.UsageError("--vps: no OS spec given; name one, e.g. --vps=debian:12")
    try:
        harness_config = HarnessConfig.from_env()  # a bad setting stops the run here, not in every test's setup
        given = [part for value in config.getoption("vps_engine") for part in value.split(",") if part.strip()]
        engines = tuple(engine_url(url, "--vps-engine") for url in given) or harness_config.engines
        if harness_config.host and sum(url.startswith("tcp://") for url in engines) > 1:
            raise ConfigError(
                f"VPS_HARNESS_HOST={harness_config.host} is one address, and several tcp:// engines are named "
                f"({', '.join(url for url in engines if url.startswith('tcp://'))}); unset it, or name one engine"
            )
    except ConfigError as e:
        raise pytest.UsageError(str(e)) from None
    workerinput = getattr(config, "workerinput", None)
    session = workerinput["vps_harness_session"] if workerinput else new_session_id()
    prepare = config.getoption("vps_prepare") or str(config.getini("vps_prepare")).strip() or "no"
    if prepare not in PREPARE_CHOICES:
        raise pytest.UsageError(f"vps_prepare = {prepare!r}: use one of {', '.join(PREPARE_CHOICES)}")
    prepare = cast(Prepare, prepare)
    config.stash[SETTINGS] = RunSettings(
        matrix, bool(config.getoption("vps_keep_failed")), session, config.getoption("vps_docker"), prepare, engines
    )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(session, engines), "vps-harness-xdist")


class _XdistHooks:
    """Hands the controller's session id to every worker, and sweeps once for all of them."""

    def __init__(self, session: str, engines: tuple[str, ...]) -> None:
        self.session = session
        self.engines = engines or ("",)
        self.swept = False
        self.controller = False

    def pytest_xdist_setupnodes(self, config: pytest.Config) -> None:
        """Before any worker starts, remove what killed runs left, once for the whole run.

        Workers that each swept on their first use of the engine met at the
        same leftovers, and a worker whose first use came late removed a
        killed run's leftovers that a test in another worker was looking at.
        Where no engine answers here, each worker sweeps as a lone run does.
        """
        import docker.errors
        import requests

        from harness.engine import docker_client
        from harness.reaper import sweep_leftovers

        self.controller = True
        swept = 0
        for url in self.engines:
            try:
                client = docker_client(url=url)
            except EngineUnavailable:
                continue
            try:
                sweep_leftovers(client, terminal_progress(config))
                swept += 1
            except (docker.errors.DockerException, requests.RequestException) as e:
                terminal_progress(config)(f"could not remove what killed runs left ({e}); each worker will try")
            finally:
                client.close()
        self.swept = swept == len(self.engines)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """At the run's end, remove what a crashed worker of it left: its own, whose process is gone
        (a worker still tearing down after Ctrl-C is alive, and kept VPSes stay)."""
        if not self.controller:
            return
        import docker.errors
        import requests

        from harness.engine import docker_client
        from harness.reaper import sweep

        for url in self.engines:
            with contextlib.suppress(EngineUnavailable, docker.errors.DockerException, requests.RequestException):
                client = docker_client(url=url)
                try:
                    sweep(client, session=self.session, dead_only=True)
                finally:
                    client.close()

    def pytest_configure_node(self, node: object) -> None:
        node.workerinput["vps_harness_session"] = self.session  # type: ignore[attr-defined]
        node.workerinput[SWEPT_BY_CONTROLLER] = self.swept  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vps_os" in metafunc.fixturenames:
        matrix = metafunc.config.stash[SETTINGS].matrix
        metafunc.parametrize("vps_os", matrix, ids=[spec.id for spec in matrix])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect matrix entries a ``vps(os=[...])`` marker leaves out."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("vps")
        callspec = getattr(item, "callspec", None)
        spec = callspec.params.get("vps_os") if callspec else None
        if marker is not None and spec is not None and "os" in marker.kwargs:
            wanted = marker.kwargs["os"]
            try:
                allowed = parse_specs([wanted] if isinstance(wanted, str) else list(wanted))
            except UnknownOsSpec as e:
                raise pytest.UsageError(f"{item.nodeid}: vps marker: {e}") from None
            if spec not in allowed:
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    report = yield
    if getattr(report, "failed", False):
        item.stash[FAILED] = True
        fleet = item.stash.get(FLEET, None)
        for vps in fleet.vpses if fleet is not None else []:
            try:
                text = vps.report()
            except Exception as e:  # noqa: BLE001 - a broken VPS must not hide the test's own failure
                text = f"(could not collect the report of VPS {vps.name}: {e})"
            report.sections.append((f"vps {vps.name}", text))  # type: ignore[attr-defined]
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove whatever this process made and a teardown missed (Ctrl-C, errors)."""
    if session.config.stash.get(ENGINE_USED, False):
        from harness.reaper import sweep_own

        settings = session.config.stash[SETTINGS]
        sweep_own(settings.session, os.getpid(), settings.engine(worker_id(session.config)))
