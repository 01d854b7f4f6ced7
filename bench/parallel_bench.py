"""Whether a suite of independent VPS tests runs faster under pytest-xdist.

Writes a suite of ``--tests`` tests, each on its own fresh VPS, and times a
whole ``pytest`` run of it with ``-n 0`` and with ``-n N`` (default: the
number of cores), alternating, median of ``--rounds`` rounds each.

    python bench/parallel_bench.py [--os debian:12] [--tests 8] [--workers 2] [--rounds 3] [--check]

``--check`` exits 1 unless the parallel run is faster (ratio below 1).
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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="xdist workers (default: cores)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (median; default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the parallel run is faster")
    args = parser.parse_args(argv)
    Images(docker_client()).vps(args.os)  # built before any timing
    serial, parallel = [], []
    with tempfile.TemporaryDirectory(prefix="vps-harness-parallel-") as folder:
        Path(folder, "test_suite.py").write_text(SUITE.format(tests=args.tests))
        for _ in range(args.rounds):
            serial.append(timed_run(Path(folder), str(args.os), 0))
            parallel.append(timed_run(Path(folder), str(args.os), args.workers))
            print(".", end="", file=sys.stderr, flush=True)
    fast, slow = statistics.median(parallel), statistics.median(serial)
    ratio = fast / slow
    print(f"\nvps-harness parallel bench: {args.os}, {args.tests} VPS tests, {os.cpu_count()} cores")
    print(
        f"pytest -n {args.workers}: {fast:.2f} s   pytest -n 0: {slow:.2f} s   "
        f"ratio {ratio:.2f}   target ratio < 1: {'met' if ratio < 1 else 'MISSED'}"
    )
    return 1 if args.check and ratio >= 1 else 0


if __name__ == "__main__":
    sys.exit(main())
