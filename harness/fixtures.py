"""pytest fixtures of vps-harness: thin wrappers over the library."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import nullcontext

import docker
import pytest

from harness.engine import docker_client
from harness.errors import EngineUnavailable
from harness.images import Images
from harness.progress import Progress


def terminal_progress(config: pytest.Config) -> Progress:
    """Progress lines through pytest's terminal, past output capturing.

    An xdist worker has no terminal of its own: its lines go to the stderr
    it shares with the controller.
    """
    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    is_worker = hasattr(config, "workerinput")

    def report(message: str) -> None:
        line = f"vps-harness: {message}"
        with capman.global_and_fixture_disabled() if capman else nullcontext():
            if reporter is not None and not is_worker:
                reporter.write_line(line)
            else:
                print(line, file=sys.stderr, flush=True)

    return report


@pytest.fixture(scope="session")
def vps_docker() -> Iterator[docker.DockerClient]:
    """A client of the Docker engine; skips the test when none answers.

    With ``CI`` set, a missing engine is an error, never a skip.
    """
    try:
        client = docker_client()
    except EngineUnavailable as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
    yield client
    client.close()


@pytest.fixture(scope="session")
def vps_images(vps_docker: docker.DockerClient, pytestconfig: pytest.Config) -> Images:
    """The image store: base images resolved and VPS images built on first use."""
    return Images(vps_docker, progress=terminal_progress(pytestconfig))
