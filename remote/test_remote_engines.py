"""The harness on engines elsewhere, and on several at once (see ``conftest.py`` for the remote hosts).

Each test drives remote hosts from an inner pytest of the suite's own
tests, as a user's run would: with ``DOCKER_HOST`` set to a ``tcp://`` or
``ssh://`` engine, or ``VPS_HARNESS_ENGINES`` naming two. Each remote
engine starts with no VPS image: the inner run copies what this machine's
engine has (:mod:`harness.transfer`). Afterwards nothing labelled is left
on any of them.

No engine elsewhere can mount this machine's socket:
``test_a_socket_vps_on_an_engine_elsewhere_is_refused_by_name`` asserts
what such an engine says instead of a socket VPS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import docker_client, remote
from harness.errors import EngineUnavailable, HarnessError
from harness.spec import OsSpec
from remote.conftest import InnerRun, RemoteHost, fleet_on

pytestmark = pytest.mark.docker

#: What the inner runs run: the `vps` tests, a DinD VPS's snapshot and its copy.
VPS_TESTS = ("tests/e2e/test_vps.py",)
SNAPSHOT_TESTS = ("tests/e2e/test_snapshots.py::test_a_copy_has_the_files_engine_and_host_key_but_not_the_processes",)
#: A flow: the ci-registry world (three DinD VPSes on networks of its own, from snapshots made on that engine).
FLOW_TEST = ("tests/e2e/test_ci_registry.py::test_without_a_registry_images_travel_over_ssh",)
#: apt through the engine's own package cache (its service beside the VPSes, its files in the VPS's apt setting).
CACHE_TEST = ("tests/e2e/test_package_cache.py::test_apt_goes_through_the_cache_and_the_sources_are_the_distributions",)


def _passed(run: InnerRun, at_least: int) -> None:
    assert run.returncode == 0, run.output[-4000:]
    assert run.count("passed") >= at_least, run.output[-2000:]
    assert run.count("failed") == 0 and run.count("error") == 0, run.output[-2000:]


def test_the_vps_snapshot_and_a_flows_tests_pass_on_a_tcp_engine(
    remote_host: Callable[[str], RemoteHost], inner_pytest: Callable[..., InnerRun]
) -> None:
    host = remote_host("tcp-engine")
    run = inner_pytest(*VPS_TESTS, *FLOW_TEST, *SNAPSHOT_TESTS, *CACHE_TEST, env={"DOCKER_HOST": host.tcp_url})
    _passed(run, 17)
    assert host.leftovers() == []
    assert host.package_cache_volume(), "the engine's package cache keeps what it fetched, as on a local engine"


def test_the_vps_and_a_flows_tests_pass_on_an_ssh_engine(
    remote_host: Callable[[str], RemoteHost], inner_pytest: Callable[..., InnerRun]
) -> None:
    host = remote_host("ssh-engine")
    run = inner_pytest(*VPS_TESTS, *FLOW_TEST, env={"DOCKER_HOST": host.ssh_url}, ssh_configs=(host.ssh_config,))
    _passed(run, 15)
    assert host.leftovers() == []


def test_four_workers_spread_over_two_engines(
    remote_host: Callable[[str], RemoteHost], inner_pytest: Callable[..., InnerRun]
) -> None:
    left, right = remote_host("left"), remote_host("right")
    since = time.time()
    run = inner_pytest(*VPS_TESTS, env={"VPS_HARNESS_ENGINES": f"{left.tcp_url},{right.tcp_url}"}, workers=4)
    _passed(run, 12)
    starts = {"left": left.vps_starts_since(since), "right": right.vps_starts_since(since)}
    assert starts["left"] > 0 and starts["right"] > 0, starts
    assert left.leftovers() == [] and right.leftovers() == []


def test_a_vps_on_a_tls_engine_is_reached_as_the_docker_cli_reaches_the_engine(
    remote_host: Callable[..., RemoteHost], vps_os: OsSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI takes them; the engine lets in
    only clients with a certificate of its CA."""
    host = remote_host("tls-engine", tls=True)
    for name, value in host.tls_env.items():
        monkeypatch.setenv(name, value)
    with fleet_on() as fleet:
        assert str(fleet.client.api.base_url).startswith("https://")
        vps = fleet.vps(vps_os, name="over-tls")
        assert vps.route.address == host.vps.ip  # the engine host's address: its published port is there
        assert vps.run("hostname").stdout == "over-tls\n"
        config = tmp_path / "ssh_config"
        config.write_text(vps.ssh_config())
        ssh = subprocess.run(["ssh", "-F", str(config), vps.ssh_alias, "cat /etc/hostname"], capture_output=True)
        assert ssh.returncode == 0 and ssh.stdout == b"over-tls\n", ssh.stderr
    assert host.leftovers() == []
    monkeypatch.delenv("DOCKER_CERT_PATH")
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    with pytest.raises(EngineUnavailable, match=rf"no Docker engine answers at {host.tcp_url}"):
        docker_client()  # plain HTTP to its TLS port: refused


def test_the_current_docker_context_names_the_engine(
    remote_host: Callable[..., RemoteHost], vps_os: OsSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``docker context create`` and ``docker context use``, as a user switches engines with the CLI, and no
    DOCKER_HOST: the harness drives the engine the context names."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        pytest.skip("no docker CLI on PATH to create the context with (`docker context create`)")
    host = remote_host("context-engine")
    config = tmp_path / "docker-config"
    environment = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"} | {"DOCKER_CONFIG": str(config)}
    create = ["context", "create", "build-1", "--docker", f"host={host.tcp_url}"]
    for command in (create, ["context", "use", "build-1"]):
        done = subprocess.run([docker_cli, *command], env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with fleet_on() as fleet:
        assert remote.engine_url(fleet.client) == host.tcp_url
        vps = fleet.vps(vps_os, name="in-context")
        assert vps.route.address == host.vps.ip  # published on the context's engine host
        assert vps.run("hostname").stdout == "in-context\n"
    assert host.leftovers() == []


def test_a_socket_vps_on_an_engine_elsewhere_is_refused_by_name(
    remote_host: Callable[[str], RemoteHost], vps_os: OsSpec
) -> None:
    host = remote_host("no-socket")
    with (
        fleet_on(host.tcp_url) as fleet,
        pytest.raises(HarnessError, match=rf"the engine at {host.tcp_url} runs elsewhere"),
    ):
        fleet.vps(vps_os, docker="socket")
    assert host.leftovers() == []
