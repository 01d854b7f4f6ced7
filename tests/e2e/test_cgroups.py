"""A VPS's cgroups on the engine at hand: cgroup v1 (this machine's engine) or
cgroup v2 (`make test` runs this file again on ``scripts/cgroup2-engine``, with
nsdelegate, as a systemd host mounts it). systemd boots in a cgroup of its
own, two VPSes share nothing, and a removed VPS leaves nothing in the host's
cgroup trees.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from harness import engine
from harness.errors import InnerEngineUnsupported
from harness.fleet import Fleet
from harness.vps import Vps
from harness.waiting import wait_for

pytestmark = pytest.mark.docker

#: systemd from 233 runs on cgroup2 alone; an older one gets a cgroup of the machine's named systemd hierarchy.
UNIFIED_FROM = 233


def systemd_version(vps: Vps) -> int:
    return int(vps.run("systemctl --version").stdout.split()[1])


def cgroup_mounts() -> Iterator[tuple[str, str]]:
    """(mount point, superblock options) of each cgroup and cgroup2 mount this process sees."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        after = fields[fields.index("-") + 1 :]
        if after[0] in ("cgroup", "cgroup2"):
            yield fields[4], after[2]


def named_vps_cgroups() -> list[str]:
    """The ``vps-*`` cgroups of the machine's named systemd hierarchy, where the host mounts it or, as root,
    in a throwaway mount namespace (a pure cgroup-v2 host mounts none)."""
    for where, options in cgroup_mounts():
        if "name=systemd" in options.split(","):
            return sorted(p.name for p in Path(where).glob("vps-*"))
    if os.geteuid() != 0:
        pytest.skip("the host mounts no named systemd hierarchy, and mounting one to look needs root")
    script = 'd=$(mktemp -d) && mount -t cgroup -o none,name=systemd cgroup "$d" && ls "$d"; umount "$d"; rmdir "$d"'
    listing = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, check=True)
    return sorted(name for name in listing.stdout.split() if name.startswith("vps-"))


def host_cgroups_of(container_id: str) -> list[str]:
    """Every cgroup in the host's cgroup trees whose name holds the container's id (three levels deep)."""
    short = container_id[:12]
    found = []
    for where, _ in cgroup_mounts():
        for root, dirs, _files in os.walk(where):
            if root.count("/") - where.count("/") >= 3:
                dirs.clear()
            found += [os.path.join(root, d) for d in dirs if short in d]
    return found


def test_systemd_runs_in_a_cgroup_of_its_own(vps: Vps, vps_engine: DockerClient) -> None:
    assert vps.run("systemctl is-system-running").stdout.strip() == "running"
    pid1 = vps.run("cat /proc/1/cgroup").stdout
    short = str(vps.container.id)[:12]
    if engine.cgroup_version(vps_engine) == 1:
        # The host's namespace: systemd's tree under the engine's /docker/<id>.
        assert re.search(rf"^\d+:name=systemd:/docker/{vps.container.id}/init\.scope$", pid1, re.M), pid1
    elif systemd_version(vps) >= UNIFIED_FROM:
        # Its own namespace: its subtree is its root, systemd moved itself to /init.scope.
        assert pid1.splitlines()[-1] == "0::/init.scope", pid1
        assert vps.run("stat -fc %T /sys/fs/cgroup").stdout.strip() == "cgroup2fs"
    else:
        # cgroup v1 only: its own cgroup of the named hierarchy, no controller shared with the host.
        assert re.search(rf"^\d+:name=systemd:/vps-{short}/init\.scope$", pid1, re.M), pid1
        assert f"vps-{short}" in named_vps_cgroups()
        assert vps.run("stat -fc %T /sys/fs/cgroup/systemd").stdout.strip() == "cgroupfs"
        controllers = vps.run("ls /sys/fs/cgroup/memory").stdout.split()
        assert controllers == [], "the controllers stay the engine's: an empty read-only mount point"


def test_systemctl_kill_in_one_vps_touches_nothing_in_the_other(vps_factory: Callable[..., Vps]) -> None:
    one, other = vps_factory(name="one"), vps_factory(name="other")
    for vps in (one, other):
        vps.run("systemd-run --unit=probe /bin/sleep 1000", sudo=True)
        wait_for(
            lambda vps=vps: vps.run("systemctl is-active probe", check=False).stdout.strip() == "active",
            timeout=10,
            what=f"probe.service active on {vps.name}",
        )
    one.run("systemctl kill probe", sudo=True)
    wait_for(
        lambda: one.run("systemctl is-active probe", check=False).stdout.strip() != "active",
        timeout=10,
        what="probe.service killed on one",
    )
    assert other.run("systemctl is-active probe").stdout.strip() == "active"
    assert other.run("pgrep -x sleep", check=False).exit_status == 0, "the other VPS's sleep still runs"


def test_a_removed_vps_leaves_nothing_in_the_hosts_cgroup_trees(
    vps_factory: Callable[..., Vps], vps_fleet: Fleet
) -> None:
    running, stopped = vps_factory(name="running"), vps_factory(name="stopped")
    ids = [str(running.container.id), str(stopped.container.id)]
    assert all(host_cgroups_of(cid) for cid in ids), "while it runs, the engine's cgroup of each is there"
    stopped.stop()
    vps_fleet.discard(running, stopped)
    for cid, which in zip(ids, ("running", "stopped")):
        assert host_cgroups_of(cid) == [], f"the {which} VPS's cgroups"
        assert f"vps-{cid[:12]}" not in named_vps_cgroups()


def test_docker_inside_runs_containers_where_its_version_knows_the_engines_cgroups(
    vps_factory: Callable[..., Vps], vps_engine: DockerClient, vps_os: object
) -> None:
    probe = vps_factory(name="probe")
    said = probe.run("PATH=/usr/sbin:/usr/bin:/sbin:/bin dockerd --version").stdout
    found = re.search(r"version (\d+)\.(\d+)", said)
    assert found, said
    if engine.cgroup_version(vps_engine) == 2 and (int(found[1]), int(found[2])) < (20, 10):
        # Docker before 20.10 knows cgroup v1 only (Ubuntu 16.04's 18.09): a cgroup-v2 host binds every
        # controller to cgroup2, so its dockerd finds no devices cgroup and stops, and the harness says why.
        with pytest.raises(InnerEngineUnsupported, match=r"knows cgroup v1 only(.|\n)*Devices cgroup isn't mounted"):
            vps_factory(name="dind", docker="dind")
        return
    dind = vps_factory(name="dind", docker="dind")
    inner = dind.run(f"docker run --rm {vps_os} cat /proc/self/cgroup").stdout
    assert inner.strip(), "an inner container ran and saw its cgroups"
    if (int(found[1]), int(found[2])) >= (20, 10):  # `docker info` says its cgroup version from 20.10 on
        said = dind.run("docker info -f '{{.CgroupVersion}}'").stdout.strip()
        assert said == str(engine.cgroup_version(vps_engine)), "the inner engine is on the outer one's cgroups"
