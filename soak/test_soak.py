"""`make soak`: many VPS starts at once, mixed (both suite OSes, systemd and sshd as PID 1, some with Docker
inside), each reached over SSH: no start may fail, and the run leaves nothing (see conftest).

VPS_HARNESS_SOAK sets how many starts per OS of the matrix (default 100: 200 with the suite's two OSes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.spec import OsSpec
from harness.vps import Vps

pytestmark = pytest.mark.docker

STARTS = int(os.environ.get("VPS_HARNESS_SOAK", "100"))


@pytest.mark.parametrize("n", range(STARTS))
def test_a_vps_starts_and_answers(n: int, vps_factory: Callable[..., Vps], vps_os: OsSpec, ready_times: Path) -> None:
    # Docker inside on debian:12 only: Ubuntu 16.04's Docker 18.09 cannot run on a cgroup-v2 engine.
    docker = "dind" if n % 10 == 5 and vps_os.id == "debian-12" else "none"
    init = "sshd" if n % 4 == 3 and docker == "none" else "systemd"  # DinD runs docker.service under systemd
    started = time.monotonic()
    vps = vps_factory(init=init, docker=docker)
    ready = time.monotonic() - started
    assert vps.run("hostname").stdout.strip() == vps.name
    if docker == "dind":
        assert vps.run("docker info -f '{{.ServerVersion}}'").stdout.strip()
    with ready_times.open("a") as out:
        out.write(f"{ready:.3f}\n")
