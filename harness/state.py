"""What the plugin's hooks and the fixtures share: the run's settings, the
per-item stash keys and progress lines. Both import this module; neither
imports the other."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pytest

from harness.progress import Progress
from harness.spec import OsSpec
from harness.want import DockerMode

if TYPE_CHECKING:
    from harness.fleet import Fleet

#: What ``--vps-prepare`` builds before the first test: nothing, the matrix's
#: VPS images, or those and their Docker-in-Docker images.
Prepare = Literal["no", "images", "dind"]
PREPARE_CHOICES = ("no", "images", "dind")


@dataclass(frozen=True)
class RunSettings:
    """What the command line and ini said, resolved once per process."""

    matrix: tuple[OsSpec, ...]
    keep_failed: bool
    session: str
    docker: DockerMode = "none"
    prepare: Prepare = "no"
    #: The engines the run spreads over (``--vps-engine``, ``VPS_HARNESS_ENGINES``); none: the one
    #: ``DOCKER_HOST`` or the docker context names.
    engines: tuple[str, ...] = ()

    def engine(self, worker: str) -> str:
        """The engine URL of xdist worker ``worker`` (``gw3``; ``master`` without xdist): its number modulo
        the engines, so ``-n 4`` over two engines puts two workers on each; "" when no engine is named.

        >>> RunSettings((), False, "s", engines=("tcp://a:2375", "tcp://b:2375")).engine("gw3")
        'tcp://b:2375'
        """
        if not self.engines:
            return ""
        number = worker.removeprefix("gw")
        return self.engines[int(number) % len(self.engines) if number.isdigit() else 0]


SETTINGS = pytest.StashKey[RunSettings]()
#: On each item: the VPS fleet of the test, for its report.
FLEET: pytest.StashKey[Fleet] = pytest.StashKey()
#: On each item: whether a phase of it failed.
FAILED = pytest.StashKey[bool]()
#: Set once this process has reached the engine, so the session's end sweeps.
ENGINE_USED = pytest.StashKey[bool]()
#: In an xdist worker's ``workerinput``: the controller swept leftovers before the workers started.
SWEPT_BY_CONTROLLER = "vps_harness_swept"


def worker_id(config: pytest.Config) -> str:
    """This process's xdist worker id (``gw0``), or ``master`` outside xdist."""
    return str(getattr(config, "workerinput", {}).get("workerid", "master"))


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
