"""Whole pytest runs in a subprocess: reports, parallel runs, Ctrl-C, kill -9, gc.

Each test runs its own pytest on a small test file and checks what the run
left in the engine. They take a lock with every test that starts a run or
`gc`: a killed run's leftovers are what they look at, and another run's
start-up sweep would remove them.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from harness import labels
from harness.spec import OsSpec, parse_specs
from tests.e2e.environment import clean_env, sweeping_apart

pytestmark = pytest.mark.docker

HOLD = """
import os, time
from pathlib import Path

def test_hold(vps, vps_network):
    net = vps_network()
    Path(os.environ["IDS"]).write_text(f"{vps.container.id} {net.id}")
    time.sleep(300)
"""

SUITE = """
import os
from pathlib import Path

def record(*ids):
    with open(os.environ["IDS"], "a") as f:
        f.write(" ".join(ids) + "\\n")

def test_one(vps):
    record(vps.container.id)
    assert vps.run("true").ok

def test_two(vps_factory, vps_network):
    net = vps_network()
    a, b = vps_factory(name="a", networks=[net]), vps_factory(name="b", networks=[net])
    record(a.container.id, b.container.id, net.id)
    assert a.run("getent hosts b").ok

def test_fails(vps):
    record(vps.container.id)
    vps.run("echo about to fail; echo trouble >&2; exit 7")
"""


@pytest.fixture
def inner(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[OsSpec]:
    """The OS of the inner runs (the session's first, whose images are prepared), one run at a time."""
    with sweeping_apart(tmp_path_factory):
        yield parse_specs(pytestconfig.getoption("vps") or pytestconfig.getini("vps"))[0]


#: pytest as a user starts it in a terminal, where Ctrl-C interrupts. A run
#: started in the background by a non-interactive shell (`.ci/run &`, as
#: cold-ci does) inherits SIGINT ignored, and Python then never raises
#: KeyboardInterrupt: the inner run gets SIGINT's usual handler back first.
PYTEST_IN_A_TERMINAL = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


def inner_pytest(tmp_path: Path, spec: OsSpec, source: str, *args: str) -> list[str]:
    (tmp_path / "test_inner.py").write_text(source)
    options = ["-p", "no:cacheprovider", f"--vps={spec}", "-q", *args, "test_inner.py"]
    return [sys.executable, "-c", PYTEST_IN_A_TERMINAL, *options]


def run_inner(
    folder: Path, spec: OsSpec, source: str, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """A whole pytest run of ``source`` in ``folder``, to its end."""
    return subprocess.run(
        inner_pytest(folder, spec, source, *args),
        cwd=folder,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def gc() -> subprocess.CompletedProcess[str]:
    """`vps-harness gc`, as a user runs it after a killed or kept run."""
    return subprocess.run(
        [Path(sys.executable).with_name("vps-harness"), "gc"], env=clean_env(), capture_output=True, text=True
    )


def start_holding(tmp_path: Path, spec: OsSpec) -> tuple[subprocess.Popen[str], list[str]]:
    """A pytest run whose test holds a VPS and a network; the ids once they are up."""
    ids = tmp_path / "ids"
    process = subprocess.Popen(
        inner_pytest(tmp_path, spec, HOLD),
        cwd=tmp_path,
        env=clean_env(IDS=str(ids), PYTHONFAULTHANDLER="1"),  # SIGABRT prints every thread's stack
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not (ids.exists() and ids.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the inner run never started its VPS:\n{process.communicate()[0]}")
        time.sleep(0.05)
    return process, ids.read_text().split()


def exists(client: docker.DockerClient, rid: str) -> bool:
    for collection in (client.containers, client.networks):
        try:
            collection.get(rid)
            return True
        except docker.errors.NotFound:
            continue
    return False


def owned_by(client: docker.DockerClient, pid: int) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"label": f"{labels.PID}={pid}"})]


def test_parallel_run_reports_failures_and_leaves_nothing(
    tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec
) -> None:
    ids = tmp_path / "ids"
    run = run_inner(tmp_path, inner, SUITE, "-n", "2", timeout=300, IDS=str(ids))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout and "1 failed" in run.stdout
    recorded = ids.read_text().split()
    assert len(recorded) == 5
    assert [rid for rid in recorded if exists(vps_engine, rid)] == []
    report = run.stdout[run.stdout.index("test_fails") :]
    assert "vps vps1" in report, "the failed test's report has a section per VPS"
    assert "exit 7" in report and "! trouble" in report, "the transcript shows the command, status and stderr"
    assert "--- journal (last 200 lines) ---" in report and "sshd" in report
    assert "--- docker logs ---" in report and "Welcome to" in report


CRASH = """
import os
from pathlib import Path

def test_crash(vps, vps_network):
    net = vps_network()
    Path(os.environ["IDS"]).write_text(f"{vps.container.id} {net.id}")
    os._exit(3)  # the worker dies as a segfault would kill it: no teardown
"""


def test_a_crashed_workers_vps_goes_when_the_parallel_run_ends(
    tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec
) -> None:
    ids = tmp_path / "ids"
    run = run_inner(tmp_path, inner, CRASH, "-n", "2", timeout=300, IDS=str(ids))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "crashed" in run.stdout, run.stdout  # xdist: "worker 'gw0' crashed while running ..."
    held = ids.read_text().split()
    assert len(held) == 2
    assert [rid for rid in held if exists(vps_engine, rid)] == [], "the controller removed them at the end"


def test_ctrl_c_mid_test_leaves_nothing(tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec) -> None:
    process, held = start_holding(tmp_path, inner)
    process.send_signal(signal.SIGINT)
    try:
        output = process.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # where it hangs, for the report
        output = process.communicate(timeout=30)[0]
        pytest.fail(f"the interrupted run did not end within 120 s; its output and stacks:\n{output[-8000:]}")
    assert process.returncode == 2, output  # interrupted
    assert "KeyboardInterrupt" in output
    assert [rid for rid in held if exists(vps_engine, rid)] == []
    assert owned_by(vps_engine, process.pid) == []


def test_kill_9_leaves_labelled_leftovers_that_the_next_session_and_gc_remove(
    tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec
) -> None:
    (tmp_path / "first").mkdir()
    first, held = start_holding(tmp_path / "first", inner)
    first.kill()
    first.communicate(timeout=30)
    assert all(exists(vps_engine, rid) for rid in held), "pytest runs no teardown on SIGKILL"
    assert owned_by(vps_engine, first.pid) == [held[0]]
    staged = Path(vps_engine.containers.get(held[0]).labels[labels.SECRETS])
    assert staged.parent.name.startswith("vps-harness-keys-") and staged.exists()

    # The next session sweeps what dead owners left: under xdist its controller, once, before the workers start.
    (tmp_path / "next").mkdir()
    engine_test = "def test_engine(vps_engine):\n    assert vps_engine.ping()\n"
    after = run_inner(tmp_path / "next", inner, engine_test, "-n", "2")
    assert after.returncode == 0, after.stdout + after.stderr
    swept = r"removed \d+ leftover resources of runs that were killed"
    assert re.search(swept, after.stdout), "the controller's line, on its terminal:\n" + after.stdout
    assert not re.search(swept, after.stderr), "no worker swept again:\n" + after.stderr
    assert [rid for rid in held if exists(vps_engine, rid)] == []
    assert not staged.parent.exists(), "the dead run's session key directory went with its VPS"

    # And `vps-harness gc`, without a pytest run.
    (tmp_path / "second").mkdir()
    second, held = start_holding(tmp_path / "second", inner)
    second.kill()
    second.communicate(timeout=30)
    assert all(exists(vps_engine, rid) for rid in held)
    swept = gc()
    assert swept.returncode == 0, swept.stderr
    assert re.match(r"removed [1-9]\d* container\(s\), [1-9]\d* network\(s\)", swept.stdout), swept.stdout
    assert [rid for rid in held if exists(vps_engine, rid)] == []


def test_keep_failed_keeps_the_vps_reachable_until_gc(
    tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec
) -> None:
    failing = "def test_fails(vps):\n    vps.run('touch /tmp/evidence')\n    assert False\n"
    run = run_inner(tmp_path, inner, failing, "--vps-keep-failed")
    assert run.returncode == 1, run.stdout + run.stderr
    line = re.search(rf"kept VPS vps1 of test_inner.py::test_fails\[{inner.id}\]: (ssh .*)", run.stdout + run.stderr)
    assert line, run.stdout + run.stderr
    ssh = shlex.split(line.group(1))
    port = ssh[ssh.index("-p") + 1]
    kept = vps_engine.containers.list(filters={"label": labels.SESSION, "name": "kept-"})
    kept_ids = [c.id for c in kept if c.ports.get("22/tcp", [{}])[0].get("HostPort") == port]
    assert len(kept_ids) == 1
    try:
        probe = subprocess.run([*ssh, "-o", "BatchMode=yes", "ls /tmp/evidence"], capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == "/tmp/evidence"
        swept = gc()
        assert swept.returncode == 0, swept.stderr
        assert [rid for rid in kept_ids if exists(vps_engine, rid)] == []
    finally:
        for rid in kept_ids:
            if exists(vps_engine, rid):
                vps_engine.containers.get(rid).remove(force=True, v=True)


JUMPED_FAILS = """
def test_fails(vps_factory, vps_network):
    net = vps_network()
    bastion = vps_factory(name="bastion", networks=[net])
    inner = bastion.jump_to(vps_factory(name="inner", networks=[net], publish_ssh=False))
    inner.run("touch /tmp/evidence")
    assert False
"""


def test_keep_failed_prints_a_working_line_for_a_jumped_vps(
    tmp_path: Path, vps_engine: docker.DockerClient, inner: OsSpec
) -> None:
    run = run_inner(tmp_path, inner, JUMPED_FAILS, "--vps-keep-failed")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "vps inner" in output and "reach it: ssh " in output, "the report of the jumped VPS is there"
    line = re.search(rf"kept VPS inner of test_inner.py::test_fails\[{inner.id}\]: (ssh .*)", output)
    assert line, output
    ssh = shlex.split(line.group(1))
    session = re.search(r"known_hosts-kept-vps-inner-([0-9a-f]{12})-", line.group(1))
    assert session, line.group(1)
    mine = {"label": f"{labels.SESSION}={session.group(1)}"}
    kept = [c.id for c in vps_engine.containers.list(filters=mine)]
    assert len(kept) == 2, "the bastion is kept with it: the line goes through it"
    try:
        assert any(part.startswith("ProxyCommand=ssh ") for part in ssh), "through the bastion"
        probe = subprocess.run(
            [*ssh, "-o", "BatchMode=yes", "ls /tmp/evidence"], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        assert (probe.returncode, probe.stdout) == (0, "/tmp/evidence\n"), probe.stderr
        swept = gc()
        assert swept.returncode == 0, swept.stderr
        assert [rid for rid in kept if exists(vps_engine, rid)] == []
        assert not vps_engine.networks.list(filters=mine), "the kept network went too"
    finally:
        for rid in kept:
            if exists(vps_engine, rid):
                vps_engine.containers.get(rid).remove(force=True, v=True)
