"""How long a provisioned jenkins-slave0 world takes, warm, against its baseline, and where the time goes.

Medians of ``--runs`` runs in one process, interleaved with the baseline:
the world's four VPSes started and provisioned (``provision``: starts,
scripts over SSH, apt installs, containers in the VM's engine), against the
same four VPSes started and not provisioned (the least those servers cost).
Images are made before timing (warm). Then the time per phase of the median
run: what the speed work (snapshots, a package cache) has to attack.

    python bench/world_bench.py [--os debian:12] [--runs 10] [--variant hardened] [--check]

``--check`` exits 1 when a target is missed. Everything it starts carries the
session label and is removed by id, also on Ctrl-C.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from vps_bench import Line, bench_fleet, bench_parser, report

from harness.engine import docker_client
from harness.fleet import Fleet
from harness.flows.jenkins_slave0 import JenkinsSlave0, inner_images, provision
from harness.flows.world import at_once
from harness.images import Images
from harness.spec import OsSpec

TARGET_SPEC = "debian:12"
#: The issue's bound for a provisioned world, warm, on every OS.
WORLD_TARGET = 60.0
#: Provisioning (apt installs of nginx, an engine restart, two containers) on top of four starts.
WORLD_RATIO = 8.0


def four_started(fleet: Fleet, spec: OsSpec) -> float:
    """The baseline: the world's four VPSes (the VM with its seeded engine) started, nothing provisioned."""
    inner = inner_images(fleet.images, spec)
    started = time.monotonic()
    network = fleet.network("baseline")
    at_once(
        [
            lambda: fleet.vps(spec, name="laptop", networks=[network]),
            lambda: fleet.vps(spec, name="host2", networks=[network]),
            lambda: fleet.vps(spec, name="vm", networks=[network], docker_mode="dind", inner=inner),
            lambda: fleet.vps(spec, name="outsider", networks=[network]),
        ]
    )
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, TARGET_SPEC)
    parser.add_argument("--variant", default="hardened", help="hardened (default) or as_written")
    args = parser.parse_args(argv)
    client = docker_client()
    images = Images(client)
    ours: list[float] = []
    theirs: list[float] = []
    worlds: list[tuple[float, JenkinsSlave0]] = []
    with bench_fleet(client, images) as fleet:
        try:
            provision(fleet, args.os, args.variant)  # images made, apt lists warm: what a second run sees
        finally:
            fleet.close()
        for _ in range(args.runs):
            started = time.monotonic()
            try:
                world = provision(fleet, args.os, args.variant)
                worlds.append((time.monotonic() - started, world))
                ours.append(worlds[-1][0])
            finally:
                fleet.close()
            try:
                theirs.append(four_started(fleet, args.os))
            finally:
                fleet.close()
            print(".", end="", file=sys.stderr, flush=True)
    median = statistics.median(ours)
    target = WORLD_TARGET
    lines = [Line(f"jenkins-slave0 {args.variant}", median, statistics.median(theirs), target, WORLD_RATIO, "s")]
    title = f"vps-harness world bench: {args.os}, medians of {args.runs} runs ({os.cpu_count()} cores)"
    status = report(title, lines, args.check)
    _, typical = min(worlds, key=lambda pair: abs(pair[0] - median))
    print(f"where the time goes (the run nearest the median, {median:.1f} s; concurrent phases overlap):")
    for phase, seconds in typical.timings.items():
        print(f"  {phase:<18} {seconds:6.2f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
