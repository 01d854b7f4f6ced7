"""The Molecule driver end to end: `molecule test` runs a role on vps-harness VPSes over real SSH.

The role (``roles/webstack``: a package, a user, a template, a service
enabled) is copied out of this repository first, as a user's would stand,
and each run gets a Molecule cache and an ``ANSIBLE_HOME`` of its own, so
runs on two OSes (or two scenarios) at once share nothing. Molecule's prerun
links the role into the first roles path, ``~/.ansible/roles`` by default:
two runs that start at once would both make that link, and the second fails
with ``FileExistsError`` (seen in CI). ``VPS_OS`` picks the platforms' OS in
``molecule.yml`` (``os: ${VPS_OS:-debian:12}``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from harness import labels
from harness.config import HarnessConfig
from harness.molecule.instances import Platform, snapshot_key
from harness.snapshot import Snapshot
from harness.spec import OsSpec
from tests.e2e.environment import clean_env

pytestmark = pytest.mark.docker

ROLE = Path(__file__).with_name("roles") / "webstack"


class Role:
    """A copy of the role, and `molecule` run in it with its own cache."""

    def __init__(self, folder: Path, spec: OsSpec) -> None:
        self.path = folder / "webstack"
        self.runs = 0
        shutil.copytree(ROLE, self.path)
        self.env = clean_env(
            PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            VPS_OS=str(spec),
            XDG_CACHE_HOME=str(folder / "cache"),  # Molecule's ephemeral directories: this test's own
            VPS_HARNESS_CACHE_DIR=str(HarnessConfig.from_env().cache_dir),  # the machine's image locks
            ANSIBLE_NOCOLOR="1",
            NO_COLOR="1",
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        self.runs += 1
        home = self.path.parent / f"ansible-home-{self.runs}"  # its roles link, ControlPath and tmp
        return subprocess.Popen(
            ["molecule", *args],
            cwd=self.path,
            env={**self.env, "ANSIBLE_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *args: str) -> str:
        process = self.start(*args)
        return finished(process, " ".join(args))


def finished(process: subprocess.Popen[str], what: str, timeout: float = 1200) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"molecule {what} exited {process.returncode}:\n{output[-6000:]}"
    return output


def changes_on_web(output: str) -> list[str]:
    """The ``changed=`` count of host web in each play recap (converge, then idempotence)."""
    return re.findall(r"^web\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)


@pytest.fixture
def role(tmp_path: Path, vps_os: OsSpec, vps_engine: docker.DockerClient) -> Iterator[Callable[[], Role]]:
    """The role, copied; afterwards nothing of its scenarios is left on the engine."""
    made: list[Role] = []

    def make() -> Role:
        made.append(Role(tmp_path / f"role{len(made)}", vps_os))
        return made[-1]

    yield make
    left = vps_engine.containers.list(
        all=True, filters={"label": [f"{labels.WORLD}=molecule", f"{labels.NAME}"]}, ignore_removed=True
    )
    mine = [c.name for c in left if str(tmp_path) in str(c.labels.get(labels.SECRETS, ""))]
    assert mine == [], f"left behind: {mine}"


def test_molecule_test_converges_the_role_idempotently_and_verifies_it_over_ssh(role: Callable[[], Role]) -> None:
    out = role().run("test", "-s", "default")
    assert int(changes_on_web(out)[0]) > 0, "converge changed the server"
    assert "Idempotence completed successfully." in out, out[-3000:]
    assert "1 passed" in out, "testinfra's check of what the role made passed"


def test_two_scenarios_at_once_one_behind_a_bastion_share_nothing(role: Callable[[], Role]) -> None:
    """Both scenarios have an instance named web; they run at once from one role."""
    copy = role()
    plain = copy.start("test", "-s", "default")
    behind = copy.start("test", "-s", "bastion")
    out_behind = finished(behind, "test -s bastion")
    out_plain = finished(plain, "test -s default")
    assert "2 passed" in out_behind, "the role's check and the bastion's: sshd saw gate's address"
    assert "1 passed" in out_plain
    for out in (out_plain, out_behind):
        assert "Idempotence completed successfully." in out


def test_a_dind_platforms_role_runs_a_container_on_its_own_engine(role: Callable[[], Role]) -> None:
    out = role().run("test", "-s", "dind")
    assert "Idempotence completed successfully." in out and "1 passed" in out, out[-3000:]


def test_a_converged_snapshot_is_kept_and_a_later_create_starts_from_it(
    role: Callable[[], Role], vps_engine: docker.DockerClient, vps_os: OsSpec
) -> None:
    copy = role()
    # A role of this run's own (the snapshot key counts every file of the role): its first run converges.
    (copy.path / "defaults").mkdir()
    (copy.path / "defaults" / "main.yml").write_text(f"webstack_run: {uuid.uuid4().hex}\n")
    # The tag its snapshot gets, by the driver's own key (not a tag prefix: other tests, at once on
    # the other worker, keep snapshots of VPSes named web on this OS too).
    web = Platform.of({"name": "web", "os": str(vps_os)})
    mine = Snapshot.tag_for(vps_os, "web", snapshot_key(web, copy.path, copy.path / "molecule" / "snapshot", []))
    assert Snapshot.find(vps_engine, mine) is None
    try:
        first = copy.run("test", "-s", "snapshot")
        kept = Snapshot.find(vps_engine, mine)
        second = copy.run("test", "-s", "snapshot")
    finally:  # the snapshot of this run's role: no later run has that role
        with contextlib.suppress(docker.errors.ImageNotFound):
            vps_engine.images.remove(mine, force=True)
    assert kept is not None, f"the first run kept its converged web as {mine}"
    assert "1 passed" in first and "1 passed" in second
    assert "kept the converged web as snapshots" in first, first[-4000:]
    assert "web from converged snapshots" in second, second[-4000:]
    assert int(changes_on_web(first)[0]) > 0
    assert changes_on_web(second) == ["0", "0"], "the copy was converged already: converge changes nothing"
