"""How fast a VPS is ready, and runs a command, on an engine elsewhere, against the local engine.

Medians of ``--runs`` runs in one process, each interleaved with its
baseline: a VPS started on this machine's engine through its Unix socket
(keys bind-mounted, sshd on 127.0.0.1), from asking to its first
``run("true")``, and one ``run("true")`` on it.

(a) the same engine driven as a remote one (``tcp://127.0.0.1:PORT``, a
    forward to its socket): keys carried in the create request (unpacked
    before the init), sshd published. Only what the harness does
    differently for an engine elsewhere differs; its aim is "within 10%";
(b) a remote host made on this machine (a DinD VPS serving its engine on
    ``tcp://ITS-ADDRESS:2375``, as ``make engines`` does): a VPS inside
    another's engine, reached across the engine's bridge;
(c) that host as an ``ssh://`` engine: the VPS's sshd only on the host's
    loopback, reached through ``ssh -W`` to the host.

    python bench/remote_bench.py [--os debian:12] [--runs 10] [--check]

``--check`` exits 1 when a ratio target is missed. Everything it starts
carries the session label and is removed by id, also on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dind_bench import interleaved
from vps_bench import Line, bench_fleet, bench_parser, report

from harness.engine import docker_client
from harness.fleet import Fleet
from harness.images import Images
from harness.spec import OsSpec
from harness.tunnel import PortForward

TARGET_SPEC = "debian:12"
#: The same engine as a remote one: what copying keys in and publishing on every address cost.
SAME_ENGINE_RATIO = 1.10
#: A VPS inside a DinD VPS's engine (a second level of containers on the same two cores) and across a
#: bridge: measured here 1.3-1.6 for ready; an aim with room, not the issue's 10%.
NESTED_RATIO = 2.0
#: Through the engine host's SSH: the API over ``docker system dial-stdio`` and sshd over ``ssh -W``, each
#: connection a channel of one OpenSSH master (measured 1.05 for ready; 3.3-3.5 when every API call was a
#: login of its own, docker-py's way).
SSH_RATIO = 1.5
#: The remote host's OS: Docker 26 (see remote/conftest.py's HOST_OS).
HOST_OS = "debian:13"
LISTEN_ON_TCP = Path(__file__).resolve().parent.parent / "remote" / "listen-on-tcp.sh"


def ready_and_command(fleet: Fleet, spec: OsSpec) -> tuple[float, float]:
    """Seconds from asking for a VPS to its first ``run("true")``, and one more ``run("true")``; removed after."""
    started = time.monotonic()
    vps = fleet.vps(spec, name="bench")
    try:
        vps.run("true")
        ready = time.monotonic() - started
        started = time.monotonic()
        vps.run("true")
        return ready, time.monotonic() - started
    finally:
        fleet.discard(vps)


def compare(what: str, runs: int, fleet: Fleet, local: Fleet, spec: OsSpec, ratios: tuple[float, float]) -> list[Line]:
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []

    def one(into: list[tuple[float, float]], on: Fleet) -> float:
        into.append(ready_and_command(on, spec))
        return into[-1][0]

    ready_here, ready_local = interleaved(runs, lambda: one(ours, fleet), lambda: one(theirs, local))
    command_here = sorted(second for _, second in ours)[len(ours) // 2]
    command_local = sorted(second for _, second in theirs)[len(theirs) // 2]
    return [
        Line(f"ready, {what}", ready_here, ready_local, None, ratios[0], "s"),
        Line(f"run('true'), {what}", command_here, command_local, None, ratios[1], "ms"),
    ]


@contextmanager
def remote_fleet(url: str, local: Fleet) -> Iterator[Fleet]:
    """A fleet on the engine at ``url`` (its images copied from this machine's engine first)."""
    client = docker_client(url=url)
    images = Images(client)
    fleet = Fleet(client, images, session=local.session, identity=local.identity)
    try:
        yield fleet
    finally:
        fleet.close()
        images.close()
        client.close()


@contextmanager
def ssh_config_on_path(config: str) -> Iterator[None]:
    """An ``ssh`` first on PATH that reads ``config`` (a user's ~/.ssh/config for the remote host)."""
    folder = Path(tempfile.mkdtemp(prefix="vps-harness-bench-ssh-"))
    (folder / "ssh_config").write_text(config)
    wrapper = folder / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{folder}{os.pathsep}{path}"
    try:
        yield
    finally:
        os.environ["PATH"] = path
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(__doc__, TARGET_SPEC).parse_args(argv)
    client = docker_client()
    images = Images(client)
    lines: list[Line] = []
    with bench_fleet(client, images) as local:
        local.vps(args.os).remove()  # images made, and copied below, before timing

        def engine_socket() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect("/var/run/docker.sock")
            return sock

        forward = PortForward(engine_socket, "the engine's socket")
        try:
            with remote_fleet(f"tcp://127.0.0.1:{forward.port}", local) as same:
                lines += compare("same engine over tcp", args.runs, same, local, args.os, (SAME_ENGINE_RATIO,) * 2)
        finally:
            forward.close()
        host = local.vps(HOST_OS, name="remote-host", docker="dind")
        host.put(LISTEN_ON_TCP, "/usr/local/sbin/listen-on-tcp", mode=0o755)
        host.run("listen-on-tcp 2375", sudo=True, timeout=180)
        with remote_fleet(f"tcp://{host.ip}:2375", local) as nested:
            nested.vps(args.os).remove()
            lines += compare("DinD host over tcp", args.runs, nested, local, args.os, (NESTED_RATIO,) * 2)
        over = f"ssh://vps@{host.ssh_alias}:{host.ssh_port}"
        with ssh_config_on_path(host.ssh_config()), remote_fleet(over, local) as over_ssh:
            lines += compare("DinD host over ssh", args.runs, over_ssh, local, args.os, (SSH_RATIO,) * 2)
    title = f"vps-harness remote bench: {args.os}, medians of {args.runs} runs ({os.cpu_count()} cores)"
    return report(title, lines, args.check)


if __name__ == "__main__":
    sys.exit(main())
