"""When a VPS is ready: sshd answers with its banner, a login succeeds and,
under systemd, the boot has finished (and a DinD VPS's own engine answers).

Every check is a predicate given to :func:`harness.waiting.wait_for`, which
fails at once when the container has exited, with its last console lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness import engine
from harness.errors import CommandTimeout, InnerEngineUnsupported, VpsNotReady
from harness.waiting import wait_for

if TYPE_CHECKING:
    from harness.server import Shell

READY_TIMEOUT = 90.0
#: Seconds between probes of a starting VPS: a loopback connect costs ~0.1 ms.
PROBE_INTERVAL = 0.02
#: Waits on the VPS for systemd to leave "initializing"/"starting", then
#: prints its state. (`is-system-running --wait` needs systemd 240.)
AWAIT_BOOT = (
    "while s=$(systemctl is-system-running 2>/dev/null); "
    'case "$s" in initializing|starting) true;; *) false;; esac; do sleep 0.02; done; echo "$s"'
)
#: Waits on a DinD VPS (up to 60 s) until its own engine answers; gives up
#: at once when systemd has given up restarting it.
AWAIT_DOCKER = (
    "i=0; until docker info >/dev/null 2>&1; do "
    "systemctl is-failed -q docker.service && exit 1; "
    "i=$((i+1)); [ $i -le 1200 ] || exit 1; sleep 0.05; done"
)
DIND_UNITS = ("docker.service", "containerd.service")
#: Seconds a DinD VPS's engine has to answer even when the boot used up the wait's deadline.
ENGINE_FLOOR = 30.0


def wait_ready(vps: Shell, timeout: float = READY_TIMEOUT, booted: Callable[[str], None] = lambda units: None) -> None:
    """Wait until SSH logs in and, under systemd, the boot has finished.

    Until the boot lets users in (``/run/nologin`` is gone), logins fail
    as on a real server; they are retried like a closed port. The boot
    is then awaited on the VPS itself, in one command. The stages share
    ``timeout``: a VPS that is not ready fails within it, whichever stage
    it is stuck in (a DinD engine still gets :data:`ENGINE_FLOOR` seconds).
    ``booted(units)`` hears the units that failed at boot ("" for none) as soon
    as the boot has finished, before the wait for a DinD engine, which may fail.
    """
    deadline = time.monotonic() + timeout

    def left() -> float:  # for a command's own timeout: never zero, or it could not even start
        return max(1.0, deadline - time.monotonic())

    vps.close()
    vps.container.reload()
    probe = {
        "timeout": timeout,
        "deadline": deadline,
        "what": f"SSH on VPS {vps.name}",
        "still_alive": lambda: exited(vps),
        "max_delay": PROBE_INTERVAL,
    }
    wait_for(vps.connections.session().banner, **probe)  # type: ignore[arg-type]
    wait_for(lambda: vps.connections.session().connect(timeout=min(5.0, left())), **probe)  # type: ignore[arg-type]
    if vps.init != "systemd":
        booted("")
        return
    state = wait_for(
        lambda: _booted(vps.connections.session().run(AWAIT_BOOT, timeout=left()).stdout.strip()),
        timeout=timeout,
        deadline=deadline,
        what=f"systemd boot of VPS {vps.name}",
        still_alive=lambda: exited(vps),
    )
    booted(
        vps.connections.session().run("systemctl --failed --no-legend", timeout=10).stdout
        if state == "degraded"
        else ""
    )
    # A DinD engine gets at least ENGINE_FLOOR of its own, however long the boot took.
    if vps.docker == "dind" and not _engine_answers(vps, max(left(), ENGINE_FLOOR)):
        message = f"the Docker engine inside VPS {vps.name} never answered `docker info`"
        journal = f"its journal:\n{vps.journal(30, units=DIND_UNITS)}"
        reason = inner_engine_unsupported(vps)
        if reason:
            raise InnerEngineUnsupported(f"{message}: {reason}; {journal}", reason)
        raise VpsNotReady(f"{message}; {journal}")


def _engine_answers(vps: Shell, timeout: float) -> bool:
    """Whether a DinD VPS's own engine answers within ``timeout`` (and :data:`AWAIT_DOCKER`'s own bound)."""
    try:
        return vps.connections.session().run(AWAIT_DOCKER, timeout=timeout).exit_status == 0
    except CommandTimeout:
        return False


def inner_engine_unsupported(vps: Shell) -> str | None:
    """Why no Docker engine can run inside ``vps`` on this engine, where that is known, else None.

    Docker before 20.10 knows cgroup v1 only, and on a cgroup-v2 engine's
    host every controller is cgroup2's (none is left for a v1 mount).
    Tested on this machine's isolated cgroup-v2 engine (scripts/cgroup2-engine)
    with Ubuntu 16.04's Docker 18.09, which stops with "Devices cgroup isn't mounted".
    """
    if engine.cgroup_version(vps.client) != 2:
        return None
    said = vps.connections.session().run("PATH=/usr/sbin:/usr/bin:/sbin:/bin dockerd --version", timeout=10).stdout
    found = re.search(r"version (\d+)\.(\d+)", said)
    if found and (int(found[1]), int(found[2])) < (20, 10):
        return (
            f"its Docker {found[1]}.{found[2]} ({vps.os}) knows cgroup v1 only, and this engine runs cgroup v2 "
            "(Docker supports it from 20.10); run Docker inside this OS's VPS on a cgroup-v1 engine"
        )
    return None


def _booted(state: str) -> str | None:
    return state if state in ("running", "degraded") else None


def exited(vps: Shell) -> str | None:
    """Why waiting on ``vps`` is pointless (its container is not running), or None."""
    vps.container.reload()
    if vps.container.status in ("created", "running"):
        return None
    return f"its container is {vps.container.status}; last lines of docker logs:\n{vps.logs(tail=40)}"
