"""The vps-harness command: up, ls, ssh, down and demo, as a user types them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

from harness import labels
from harness.fleet import Fleet
from harness.flows.deploy_daemon import DAEMON_IMAGE, DAEMON_RECIPE
from harness.flows.jenkins_slave0 import inner_images
from harness.flows.world import REGISTRY_RECIPE
from harness.images import Images, reference
from harness.spec import OsSpec
from tests.e2e import inner_engine
from tests.e2e.environment import sweeping_apart

pytestmark = pytest.mark.docker

CLI = str(Path(sys.executable).with_name("vps-harness"))
#: How each family's /etc/os-release PRETTY_NAME begins.
PRETTY = {"ubuntu": "Ubuntu", "debian": "Debian GNU/Linux", "centos": "CentOS Linux", "rockylinux": "Rocky Linux"}


#: What says which Docker engine a command talks to, as the docker CLI reads it: the suite's engine is the CLI's.
ENGINE_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT", "DOCKER_CONFIG")


def cli(*args: str, cache: Path, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    engine = {name: os.environ[name] for name in ENGINE_ENV if name in os.environ}
    env = {"PATH": "/usr/bin:/bin", "VPS_HARNESS_CACHE_DIR": str(cache), "HOME": str(cache), **engine}
    run = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)
    said = [line for line in run.stderr.splitlines() if inner_engine.SAID in line]
    if run.returncode != 0 and said:
        # The CLI's InnerEngineUnsupported (harness/readiness.py): this OS's Docker on this engine's cgroups.
        pytest.skip(said[0].split("; its journal")[0])
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_up_ls_ssh_down(
    spec: OsSpec, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, vps_engine: docker.DockerClient
) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    up = cli("up", str(spec), "--name", name, cache=tmp_path)
    assert re.match(rf"VPS {name} \({spec}, init=systemd\) is up: image [\d.]+ s, ready [\d.]+ s", up.stdout)
    ssh_line = re.search(r"ssh:\s+(ssh .*)", up.stdout)
    assert ssh_line and f"{tmp_path}/cli/id_ed25519" in ssh_line.group(1)
    try:
        listed = cli("ls", cache=tmp_path).stdout
        row = next(line for line in listed.splitlines() if line.startswith(name + " "))
        assert str(spec) in row and "running" in row and "vps-harness up" in row
        assert cli("ssh", name, "hostname", cache=tmp_path).stdout == f"{name}\n"
        failed = cli("ssh", name, "echo oops >&2; exit 5", cache=tmp_path, check=False)
        assert (failed.returncode, failed.stderr) == (5, "oops\n")
        # The printed line works with OpenSSH and the pinned host key.
        probe = subprocess.run(
            [*ssh_line.group(1).split(), "-o", "BatchMode=yes", "id -un"], capture_output=True, text=True
        )
        assert probe.stdout == "vps\n", probe.stderr
        taken = cli("up", str(spec), "--name", name, cache=tmp_path, check=False)
        assert taken.returncode == 1 and f"a VPS named '{name}' exists already" in taken.stderr
        # A CLI VPS has no owner process: the reaper leaves it alone.
        assert labels.PID not in vps_engine.containers.get(f"vps-harness-{name}").labels
        with sweeping_apart(tmp_path_factory):
            cli("gc", cache=tmp_path)
        assert vps_engine.containers.get(f"vps-harness-{name}").status == "running"
    finally:
        down = cli("down", name, cache=tmp_path)
    assert down.stdout == f"removed 1 VPS: {name}\n"
    assert not vps_engine.containers.list(all=True, filters={"name": f"vps-harness-{name}"})
    assert not (tmp_path / "cli" / f"vps-harness-{name}").exists(), "its staged keys are gone"
    assert not (tmp_path / "cli" / f"known_hosts-vps-harness-{name}").exists()
    missing = cli("ssh", name, "true", cache=tmp_path, check=False)
    assert missing.returncode == 1 and f"no VPS named '{name}'" in missing.stderr


def test_demo_shows_a_booted_server_and_removes_it(
    spec: OsSpec, tmp_path: Path, vps_engine: docker.DockerClient
) -> None:
    demo = cli("demo", str(spec), cache=tmp_path).stdout
    assert re.search(rf"^os\s+{PRETTY[spec.family]} .*\b{re.escape(spec.version)}\b", demo, re.M), demo
    assert re.search(r"^systemd\s+running$", demo, re.M)
    assert re.search(r"^users\s+root vps$", demo, re.M)
    assert re.search(r"^ssh\s+ssh -i \S+ -p \d+ .*-o UserKnownHostsFile=\S+ .*StrictHostKeyChecking=yes", demo, re.M)
    assert re.search(r"^removed\s+in [\d.]+ s$", demo, re.M)
    # This demo's own session: the other OS's demo may be up on the other worker at this moment.
    session = re.search(r"known_hosts-vps-demo-([0-9a-f]{12})-", demo)
    assert session, demo
    mine = [f"{labels.NAME}=demo", f"{labels.SESSION}={session.group(1)}"]
    assert not vps_engine.containers.list(all=True, filters={"label": mine})


def test_up_with_its_own_docker_engine_and_down_removes_its_volume(
    spec: OsSpec, tmp_path: Path, vps_engine: docker.DockerClient
) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    volumes = [f"vps-harness-{name}-docker", f"vps-harness-{name}-containerd"]
    up = cli("up", str(spec), "--name", name, "--docker", "dind", cache=tmp_path)
    assert f"VPS {name} ({spec}, init=systemd, docker=dind) is up" in up.stdout
    try:
        row = next(line for line in cli("ls", cache=tmp_path).stdout.splitlines() if line.startswith(name + " "))
        assert row.split()[3] == "dind"
        inner = cli("ssh", name, "docker images --format '{{.Repository}}:{{.Tag}}'", cache=tmp_path).stdout
        assert spec.registry_ref in inner.split()
        container = vps_engine.containers.get(f"vps-harness-{name}")
        mounted = {m["Destination"]: m.get("Name") for m in container.attrs["Mounts"]}
        assert [mounted["/var/lib/docker"], mounted["/var/lib/containerd"]] == volumes, "each engine store on a volume"
        for volume in volumes:
            assert vps_engine.volumes.get(volume).attrs["Labels"][labels.SESSION] == "cli"
    finally:
        cli("down", name, cache=tmp_path)
    for volume in volumes:
        assert not vps_engine.volumes.list(filters={"name": volume})
    socket = cli("up", str(spec), "--docker", "socket", cache=tmp_path, check=False)
    assert socket.returncode == 2 and "invalid choice: 'socket' (choose from 'none', 'dind', 'bare')" in socket.stderr


def test_world_up_prints_working_ssh_lines_and_down_removes_everything(
    spec: OsSpec, tmp_path: Path, vps_engine: docker.DockerClient, vps_fleet: Fleet
) -> None:
    # The world's images first, as the suite's other images are (vps_prepared): the CLI's own
    # cache directory has its own locks, and no test may depend on another having built them.
    vps_fleet.image(spec, "dind", inner_images(vps_fleet.images, spec))
    up = cli("world", "up", "jenkins-slave0", "--os", str(spec), cache=tmp_path, timeout=600)
    try:
        assert f"jenkins-slave0 world (hardened) on {spec}" in up.stdout
        hosts = re.findall(r"^  (\w+): .*\n    (ssh .*)$", up.stdout, re.M)
        assert [host for host, _ in hosts] == ["laptop", "host2", "vm", "outsider"]
        laptop = dict(hosts)["laptop"]
        hop = subprocess.run(
            [*laptop.split(), "-o", "BatchMode=yes", "sudo -u myuser ssh -o BatchMode=yes docker@host2 hostname"],
            capture_output=True,
            text=True,
        )
        assert hop.stdout == "vm\n", hop.stderr
        again = cli("world", "up", "jenkins-slave0", "--os", str(spec), cache=tmp_path, check=False)
        assert again.returncode == 1 and "world jenkins-slave0 is up already" in again.stderr
    finally:
        down = cli("world", "down", "jenkins-slave0", cache=tmp_path)
    assert down.stdout == "removed world jenkins-slave0: host2, laptop, outsider, vm\n"
    state = hashlib.sha256(str((tmp_path / "cli").resolve()).encode()).hexdigest()[:12]
    mine = {"label": [f"{labels.WORLD}=jenkins-slave0", f"{labels.STATE}={state}"]}
    assert vps_engine.containers.list(all=True, filters=mine) == []
    assert vps_engine.networks.list(filters=mine) == [] and vps_engine.volumes.list(filters=mine) == []


@pytest.mark.parametrize(
    ("world", "hosts"),
    [("ci-registry", ["registry", "jenkins", "production"]), ("concurrent-builds", ["registry", "jenkins"])],
)
def test_world_up_of_the_build_flows_as_the_readme_runs_it(
    world: str, hosts: list[str], spec: OsSpec, tmp_path: Path, vps_fleet: Fleet
) -> None:
    vps_fleet.image(spec, "dind", (vps_fleet.images.inner(spec, "registry:2", REGISTRY_RECIPE),))
    vps_fleet.image(spec, "dind")
    up = cli("world", "up", world, "--os", str(spec), cache=tmp_path, timeout=600)
    try:
        lines = dict(re.findall(r"^  (\w+): .*\n    (ssh .*)$", up.stdout, re.M))
        assert list(lines) == hosts
        # The build host's jenkins reaches the registry by name with the engine the flow configured.
        login = subprocess.run(
            [
                *lines["jenkins"].split(),
                "-o",
                "BatchMode=yes",
                "sudo -u jenkins curl -sS -o /dev/null -w '%{http_code}' http://registry.local:5000/v2/",
            ],
            capture_output=True,
            text=True,
        )
        assert login.stdout == ("200" if world == "ci-registry" else "401"), login.stderr
    finally:
        down = cli("world", "down", world, cache=tmp_path)
    assert down.stdout == f"removed world {world}: {', '.join(sorted(hosts))}\n"


def test_world_up_of_the_deploy_daemon_as_the_readme_runs_it(spec: OsSpec, tmp_path: Path, vps_fleet: Fleet) -> None:
    if spec.package_family != "apt":
        pytest.skip(f"deployd's image is built from an apt-family base's archive (docker-compose), not {spec}'s")
    vps_fleet.images.inner(spec, DAEMON_IMAGE, DAEMON_RECIPE)
    vps_fleet.image(spec, "bare")
    up = cli("world", "up", "deploy-daemon", "--os", str(spec), cache=tmp_path, timeout=600)
    try:
        [(host, line)] = re.findall(r"^  (\w+): .*\n    (ssh .*)$", up.stdout, re.M)
        assert host == "server"
        where = re.search(r"^  deployd: (https://\S+) on server; certificate `([^`]+)`", up.stdout, re.M)
        assert where, up.stdout
        # deployd answers on the server, its own certificate verified, as the README has it by hand.
        answer = subprocess.run(
            [
                *line.split(),
                "-o",
                "BatchMode=yes",
                f"{where[2]} > deployd.pem && curl -sS --cacert deployd.pem {where[1]}",
            ],
            capture_output=True,
            text=True,
        )
        assert answer.stdout == '{"apps": [], "daemon": "deployd"}\n', answer.stderr
    finally:
        down = cli("world", "down", "deploy-daemon", cache=tmp_path)
    assert down.stdout == "removed world deploy-daemon: server\n"


def test_world_refuses_what_it_does_not_know_in_one_sentence(tmp_path: Path) -> None:
    unknown = cli("world", "up", "nosuch", cache=tmp_path, check=False)
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "vps-harness: no world named 'nosuch'; the worlds are: ci-registry, concurrent-builds, deploy-daemon, "
        "jenkins-slave0\n",
    )
    variant = cli("world", "up", "jenkins-slave0", "--variant", "sloppy", cache=tmp_path, check=False)
    assert (variant.returncode, variant.stderr) == (
        1,
        "vps-harness: variant 'sloppy' is not one of hardened, as_written\n",
    )
    single = cli("world", "up", "ci-registry", "--variant", "as_written", cache=tmp_path, check=False)
    assert (single.returncode, single.stderr) == (1, "vps-harness: variant 'as_written' is not one of hardened\n")
    socket = cli("world", "up", "deploy-daemon", "--variant", "socket", cache=tmp_path, check=False)
    assert (socket.returncode, socket.stderr) == (
        1,
        "vps-harness: world deploy-daemon --variant socket mounts a Docker socket the harness serves while its "
        "process lives, and `vps-harness world up` exits: use --variant dind here, or the flow's fixture in a test\n",
    )
    missing = cli("world", "down", "jenkins-slave0", cache=tmp_path, check=False)
    assert missing.returncode == 1 and "no world named 'jenkins-slave0' is up; there are none" in missing.stderr


def test_images_save_keeps_what_it_is_asked_for_and_load_brings_the_same_tags(
    spec: OsSpec, tmp_path: Path, vps_engine: docker.DockerClient, vps_images: Images
) -> None:
    base = vps_images.base(spec)  # the registry's where one answers, else bootstrapped
    tag = reference(base)
    saved = cli("images", "save", str(tmp_path / "cache"), "--kind", "base", str(spec), cache=tmp_path)
    assert re.fullmatch(rf"saved 1 image\(s\) to {tmp_path}/cache/vps-harness-images.tar in [\d.]+ s\n", saved.stdout)
    with tarfile.open(tmp_path / "cache" / "vps-harness-images.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert [entry["RepoTags"] for entry in manifest] == [[tag]]
    loaded = cli("images", "load", str(tmp_path / "cache"), cache=tmp_path)
    assert re.fullmatch(rf"loaded 1 image\(s\) in [\d.]+ s: {re.escape(tag)}\n", loaded.stdout)
    assert vps_engine.images.get(tag).id == base.id, "the same image, not a copy"
    unknown = cli("images", "save", str(tmp_path / "other"), "--kind", "snapshot", cache=tmp_path, check=False)
    assert unknown.returncode == 2 and "invalid choice: 'snapshot'" in unknown.stderr
    assert not (tmp_path / "other").exists(), "a refused save writes nothing"
