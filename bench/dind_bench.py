"""How fast a Docker-in-Docker VPS and a three-host world are ready, against baselines.

Medians of ``--runs`` runs in one process, interleaved with their baselines:

(a) a DinD VPS whose engine holds its base image (a Dockerfile ``FROM
    debian:12`` builds), from asking to its first ``docker images``: the
    seeded DinD image, against the same VPS image with the base streamed in
    at start (``docker save | ssh VPS docker load``, what a script would do);
(b) the three-host world of a bastion, a DinD Docker host and a client on a
    private network, the last two reached only through the bastion, started
    at once (``Fleet.start``): against three plain VPSes started one after
    another (the least three servers cost, one by one);
(c) three plain VPSes started at once, against one VPS: what starting a
    world's VPSes concurrently buys on this machine's cores;
(d) the same without the harness, the floor: three ``docker run -d`` of the
    VPS image with an OpenSSH client polling ``true`` in each (as
    ``vps_bench`` times one), at once, against one: what the engine and
    three boots cost at once here, whatever starts them;
(e) three VPSes at once against (d)'s three floors at once: what the
    harness adds to a concurrent start.

    python bench/dind_bench.py [--os debian:12] [--runs 10] [--check]

``--check`` exits 1 when a ratio target is missed (absolute times are aims,
printed, not gated). Everything it starts carries the
session label and is removed by id, also on Ctrl-C.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from vps_bench import Floor, Line, bench_fleet, bench_parser, report

from harness import VpsWant, engine, labels
from harness.engine import docker_client
from harness.fleet import Fleet
from harness.images import Images, VpsImage
from harness.spec import OsSpec

#: "A few seconds once images are cached" (the issue), on its reference OS.
TARGET_SPEC = "debian:12"
DIND_TARGET = 3.0
DIND_RATIO = 0.5
WORLD_TARGET = 5.0
WORLD_RATIO = 2.0
#: The issue's bound for three VPSes at once against one. Starts are CPU-bound: on 2 cores
#: three systemd boots at once took 1.3-1.5 s against 0.55 s for one (ratio ~2.5).
AT_ONCE_RATIO = 3.0
#: Three VPSes at once against three floors at once: the harness's own share of a concurrent start.
OVER_FLOOR_RATIO = 1.25


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def interleaved(runs: int, harness: Callable[[], float], baseline: Callable[[], float]) -> tuple[float, float]:
    """Medians of ``runs`` of each, alternating, so drift on the machine hits both alike."""
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(harness())
        theirs.append(baseline())
        print(".", end="", file=sys.stderr, flush=True)
    return statistics.median(ours), statistics.median(theirs)


def closing(fleet: Fleet, make: Callable[[], None]) -> float:
    """Seconds ``make`` took; whatever it started in ``fleet`` is removed afterwards."""
    try:
        return timed(make)
    finally:
        fleet.close()


def bench_dind(fleet: Fleet, images: Images, spec: OsSpec, runs: int) -> Line:
    seeded = fleet.image(spec, "dind")  # made before timing: a cached image
    streamed = images.vps(spec)

    def start(image: VpsImage) -> float:
        started = time.monotonic()
        vps = fleet.vps(spec, name="dind", docker="dind", image=image)
        try:
            vps.run("docker images")
            return time.monotonic() - started
        finally:
            fleet.discard(vps)

    ours, theirs = interleaved(runs, lambda: start(seeded), lambda: start(streamed))
    target = DIND_TARGET if str(spec) == TARGET_SPEC else None
    return Line("dind ready, base loaded", ours, theirs, target, DIND_RATIO, "s")


def bench_world(fleet: Fleet, spec: OsSpec, runs: int) -> Line:
    def world() -> None:
        net = fleet.network()
        bastion, docker_host, client = fleet.start(
            VpsWant(spec, name="bastion", networks=[net]),
            VpsWant(
                spec, name="dockerhost", networks=[net], aliases=["docker.my.domain"], docker="dind", publish_ssh=False
            ),
            VpsWant(spec, name="client", networks=[net], publish_ssh=False),
        )
        bastion.jump_to(docker_host).run("docker images")
        bastion.jump_to(client).run("getent hosts docker.my.domain")

    def three_plain() -> None:
        for name in ("one", "two", "three"):
            fleet.vps(spec, name=name).run("true")

    ours, theirs = interleaved(runs, lambda: closing(fleet, world), lambda: closing(fleet, three_plain))
    target = WORLD_TARGET if str(spec) == TARGET_SPEC else None
    return Line("three-host world", ours, theirs, target, WORLD_RATIO, "s")


def start_three(fleet: Fleet, spec: OsSpec) -> None:
    """Three plain VPSes started at once, each to its first ``run("true")``."""
    for vps in fleet.start(*(VpsWant(spec, name=name) for name in ("one", "two", "three"))):
        vps.run("true")


def bench_at_once(fleet: Fleet, spec: OsSpec, runs: int) -> Line:
    def one() -> None:
        fleet.vps(spec, name="one").run("true")

    ours, theirs = interleaved(
        runs, lambda: closing(fleet, lambda: start_three(fleet, spec)), lambda: closing(fleet, one)
    )
    return Line("three VPSes at once", ours, theirs, None, AT_ONCE_RATIO, "s")


def bench_floor_at_once(fleet: Fleet, images: Images, spec: OsSpec, runs: int) -> list[Line]:
    floor = Floor(
        images.vps(spec).tag,
        "systemd",
        fleet.identity.key_file,
        labels.owner_labels(fleet.session),
        engine.facts(fleet.client),
    )

    def floors(count: int) -> float:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=count) as pool:
            cids = [cid for _, cid in pool.map(lambda _: floor.ready(), range(count))]
        seconds = time.monotonic() - started
        subprocess.run(["docker", "rm", "-f", "-v", *cids], check=True, capture_output=True)
        return seconds

    three_floors, one_floor, ours = [], [], []
    for _ in range(runs):  # interleaved, so drift on the machine hits all alike
        three_floors.append(floors(3))
        one_floor.append(floors(1))
        ours.append(closing(fleet, lambda: start_three(fleet, spec)))
        print(".", end="", file=sys.stderr, flush=True)
    floor_three = statistics.median(three_floors)
    return [
        Line("three floors at once", floor_three, statistics.median(one_floor), None, AT_ONCE_RATIO, "s"),
        Line("three VPSes vs floors", statistics.median(ours), floor_three, None, OVER_FLOOR_RATIO, "s"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(__doc__, TARGET_SPEC).parse_args(argv)
    client = docker_client()
    images = Images(client, use_package_cache=True)
    with bench_fleet(client, images) as fleet:
        lines = [
            bench_dind(fleet, images, args.os, args.runs),
            bench_world(fleet, args.os, args.runs),
            bench_at_once(fleet, args.os, args.runs),
            *bench_floor_at_once(fleet, images, args.os, args.runs),
        ]
    title = f"vps-harness dind bench: {args.os}, medians of {args.runs} runs ({os.cpu_count()} cores)"
    return report(title, lines, args.check)


if __name__ == "__main__":
    sys.exit(main())
