"""Whether a suite of independent VPS tests runs faster under pytest-xdist.

Writes a suite of ``--tests`` tests, each on its own fresh VPS, and times a
whole ``pytest`` run of it with ``-n 0`` and with each ``-n N`` of
``--workers`` (default: 2 and 4), alternating, median of ``--rounds`` rounds
each. With ``--matrix-os`` (an OS besides ``--os``), also the same suite on
both OSes at the first ``-n N`` against one OS: how a run scales with the
number of OSes in its matrix (2.0 is linear).

    python bench/parallel_bench.py [--os debian:12] [--tests 8] [--workers 2,4] [--rounds 3]
                                   [--matrix-os ubuntu:16.04] [--check]

``--check`` exits 1 unless every parallel run is faster than ``-n 0``
(ratio below 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.engine import docker_client
from harness.images import Images
from harness.spec import parse_spec

SUITE = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_independent(vps, n):
    vps.put_text(f"{{n}}\\n", "/srv/n")
    assert vps.run("cat /srv/n").stdout == f"{{n}}\\n"
    assert vps.run("systemctl is-system-running").stdout.strip() == "running"
"""


def timed_run(folder: Path, spec: str, workers: int) -> float:
    """Seconds of a whole pytest run of the suite in ``folder`` on ``spec`` (comma-separated: a matrix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--vps={spec}", "-n", str(workers)]
    started = time.monotonic()
    run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"the suite failed at -n {workers}:\n{run.stdout}{run.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--os", default="debian:12", type=parse_spec, help="OS spec (default: %(default)s)")
    parser.add_argument("--tests", type=int, default=8, help="tests in the suite (default: %(default)s)")
    parser.add_argument("--workers", default="2,4", help="xdist worker counts, comma-separated (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (median; default: %(default)s)")
    parser.add_argument("--matrix-os", type=parse_spec, help="a second OS: time the suite on both against one")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every parallel run is faster")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    images = Images(docker_client())
    for spec in (args.os, args.matrix_os):
        if spec is not None:
            images.vps(spec)  # built before any timing
    runs: dict[str, list[float]] = {}
    both = f"{args.os},{args.matrix_os}"
    with tempfile.TemporaryDirectory(prefix="vps-harness-parallel-") as folder:
        Path(folder, "test_suite.py").write_text(SUITE.format(tests=args.tests))
        for _ in range(args.rounds):
            runs.setdefault("0", []).append(timed_run(Path(folder), str(args.os), 0))
            for workers in counts:
                runs.setdefault(str(workers), []).append(timed_run(Path(folder), str(args.os), workers))
            if args.matrix_os is not None:
                runs.setdefault("matrix", []).append(timed_run(Path(folder), both, counts[0]))
            print(".", end="", file=sys.stderr, flush=True)
    median = {name: statistics.median(seconds) for name, seconds in runs.items()}
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nvps-harness parallel bench: {args.os}, {args.tests} VPS tests, {os.cpu_count()} cores; load {load}")
    missed = False
    for workers in counts:
        ratio = median[str(workers)] / median["0"]
        missed |= ratio >= 1
        print(
            f"pytest -n {workers}: {median[str(workers)]:.2f} s   pytest -n 0: {median['0']:.2f} s   "
            f"ratio {ratio:.2f}   target ratio < 1: {'met' if ratio < 1 else 'MISSED'}"
        )
    if args.matrix_os is not None:
        scale = median["matrix"] / median[str(counts[0])]
        print(
            f"--vps={both} -n {counts[0]}: {median['matrix']:.2f} s   one OS: {median[str(counts[0])]:.2f} s   "
            f"ratio {scale:.2f} (2.00 is linear in the number of OSes)"
        )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
