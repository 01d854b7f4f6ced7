"""The harness on newer engines: installed inside a Docker-in-Docker VPS, it
drives that VPS's own engine and passes its `vps` and snapshot tests there.

`make test-engines` runs this with ``--vps=debian:13,ubuntu:24.04``: Debian
13's docker.io is 26.1, Ubuntu 24.04's is 29.1, the engines runners and
Docker Desktop ship, each with its graph driver (overlay2) and with
containerd's image store (:data:`STORES`). The
VPS gets what a user's CI machine has: the project installed from its wheel
in a virtualenv (the wheels for the VPS's own Python come from the host's
pip, so the VPS needs no package index), the suite's tests, and the inner
OS's base image through ``vps-harness images save``/``images load``, as a
CI cache brings it. Everything else (the VPS image, its DinD image, the
snapshots) the harness makes on that engine, as it would on a runner.

The run ends with a line per engine: what it is (version, storage, cgroup
version) and the inner run's summary (``conftest.py``); each test keeps the
inner run's whole output in ``report.txt`` in its tmp path.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import archive
from harness.errors import SnapshotRefused
from harness.flows.world import tar_of
from harness.images import Images, reference
from harness.spec import OsSpec, parse_spec
from harness.vps import Vps

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
#: The OS of the VPSes the harness starts inside (the suite's first systemd OS with a modern systemd).
INNER = parse_spec("debian:12")
#: What the harness runs there: all of its `vps` and snapshot tests.
INNER_TESTS = ("tests/e2e/test_vps.py", "tests/e2e/test_snapshots.py")
#: Where the VPS keeps the project: its virtualenv and its tests.
VENV = "/opt/vps-harness"
SOURCE = "/srv/vps-harness"
#: Platforms of the wheels a VPS's Python can take (glibc 2.17 and later, x86-64).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")


def _pip(*args: str) -> None:
    run = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"pip {' '.join(args)} failed:\n{run.stdout}{run.stderr}"


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of its files (a build writes build/ into its source)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    copy = tmp_path_factory.mktemp("project")
    for name in listed:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "-q", "--no-deps", "-w", str(out), str(copy))
    (wheel,) = out.glob("vps_harness-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, project_wheel: Path) -> Callable[[str], Path]:
    """The wheels of the project and its dependencies for a Python version (``"3.13"``), fetched by this pip."""
    made: dict[str, Path] = {}

    def for_python(version: str) -> Path:
        if version not in made:
            where = tmp_path_factory.mktemp(f"wheels-{version}")
            shutil.copy2(project_wheel, where)
            platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
            _pip(
                "download", "-q", "-d", str(where), "--only-binary=:all:", "--implementation", "cp",
                "--python-version", version, *platforms, str(where / project_wheel.name),
            )  # fmt: skip
            made[version] = where
        return made[version]

    return for_python


#: The engine's image stores: its graph driver (overlay2: the default of an engine that has one in use, as a
#: DinD VPS's seeded engine has), and containerd's (Docker 29's default on a fresh install, Docker Desktop's),
#: where images are kept, saved, loaded and committed by containerd.
STORES = {"overlay2": "", "containerd": '{"features": {"containerd-snapshotter": true}}\n'}


@pytest.mark.parametrize("store", list(STORES))
def test_the_harness_passes_its_vps_and_snapshot_tests_on_this_vpss_engine(
    store: str,
    vps_os: OsSpec,
    vps_factory: Callable[..., Vps],
    vps_images: Images,
    wheelhouse: Callable[[str], Path],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    spec = vps_os
    host = vps_factory(docker="dind")
    if STORES[store]:
        host.put_text(STORES[store], "/etc/docker/daemon.json")
        host.run("systemctl restart docker", sudo=True, timeout=180)
    engine = host.run(
        "docker info -f '{{.ServerVersion}} {{.Driver}} cgroup-v{{.CgroupVersion}} {{json .DriverStatus}}'", sudo=True
    ).stdout.strip()
    record_property("engine", engine)
    assert ("io.containerd.snapshotter" in engine) == (store == "containerd"), engine
    python = host.run("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'").stdout.strip()
    host.run(
        "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y python3-venv >/dev/null",
        sudo=True,
        timeout=600,
    )
    wheels = wheelhouse(python)
    for wheel in sorted(wheels.iterdir()):
        host.put(wheel, f"/opt/wheels/{wheel.name}")
    host.run(
        f"python3 -m venv {VENV} && {VENV}/bin/pip install -q --no-index --find-links /opt/wheels vps-harness",
        sudo=True,
        timeout=600,
    )
    # The suite's tests and its pytest settings.
    suite = tar_of({"pyproject.toml": ROOT / "pyproject.toml", "tests": ROOT / "tests"})
    host.run(f"mkdir -p {SOURCE} && tar -x --no-same-owner -C {SOURCE}", sudo=True, stdin=[suite])
    base = reference(vps_images.base(INNER))  # the registry's where one answers, else bootstrapped
    archive.save(vps_images, tmp_path / "images", [INNER], kinds=["base"])
    host.put(tmp_path / "images" / archive.ARCHIVE, f"/tmp/images/{archive.ARCHIVE}")
    loaded = host.run(f"{VENV}/bin/vps-harness images load /tmp/images", sudo=True, timeout=600).stdout
    assert base in loaded, loaded
    # An engine that grants --privileged, as runners' do (this machine's refuses it): the harness must not need it.
    granted = host.run(f"docker run --rm --privileged {base} true", sudo=True, check=False)
    assert granted.ok, f"the engine inside {spec} refuses --privileged: {granted.stderr}"

    inner = host.run(
        # CI=true: a test that would skip for want of an engine fails instead.
        f"cd {SOURCE} && CI=true {VENV}/bin/pytest -n 2 -p no:cacheprovider --vps={INNER} {' '.join(INNER_TESTS)} 2>&1",
        sudo=True,
        check=False,
        timeout=2400,
    )
    (tmp_path / "report.txt").write_text(inner.stdout)
    summary = inner.stdout.strip().splitlines()[-1] if inner.stdout.strip() else "(no output)"
    record_property("inside", summary.strip("= "))
    assert inner.exit_status == 0, f"the harness inside {spec} ({engine}) failed:\n{inner.stdout[-12000:]}"
    assert re.search(r"\b\d+ passed\b", summary) and not re.search(r"failed|error|skipped", summary), summary
    left = host.run(
        "docker ps -aq --filter label=vps-harness.session --filter label=vps-harness.pid; "
        "docker network ls -q --filter label=vps-harness.session; "
        "docker volume ls -q --filter label=vps-harness.parent",
        sudo=True,
    ).stdout.split()
    assert not left, f"the harness inside {spec} left containers, networks or volumes: {shlex.join(left)}"
    if store == "containerd":
        with pytest.raises(SnapshotRefused, match=r"containerd's image store \(/var/lib/containerd\)"):
            host.snapshot(f"engines-{store}")
