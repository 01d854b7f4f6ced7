"""Snapshots end to end: a provisioned VPS kept as an image, and copies of it."""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

from harness import cache, labels, snapshot
from harness.catalogue import Catalogue
from harness.errors import CommandFailed, SnapshotRefused
from harness.fleet import Fleet, at_once
from harness.flows import jenkins_slave0
from harness.flows.snapshots import snapshotted_world
from harness.images import SNAPSHOT, Images, recipe_key
from harness.launch import SECRETS_MOUNT
from harness.reaper import remove_labelled
from harness.snapshot import Snapshot
from harness.spec import SUPPORTED, OsSpec
from harness.vps import Vps
from tests.e2e.environment import images_or_skip, world_snapshot_text

pytestmark = pytest.mark.docker


@pytest.fixture
def snapshots(vps_engine: docker.DockerClient, vps_fleet: Fleet) -> list[Snapshot]:
    """The snapshots a test takes, removed (by id) once its copies are gone (or kept: then they stay)."""
    taken: list[Snapshot] = []

    def remove() -> None:
        for snap in taken:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                vps_engine.images.remove(snap.image_id)

    vps_fleet.on_close(remove)
    return taken


def test_a_copy_has_the_files_engine_and_host_key_but_not_the_processes(
    vps_factory: Callable[..., Vps], snapshots: list[Snapshot], tmp_path: Path
) -> None:
    web = vps_factory(name="web", docker="dind")
    base = web.os.registry_ref
    web.run("echo provisioned | sudo tee /etc/provisioned >/dev/null; echo gone | sudo tee /run/gone >/dev/null")
    web.run(f"docker run -d --name kept --restart=always {base} sleep infinity")
    web.run(f"docker run -d --name once {base} sleep infinity")
    web.run("docker volume create data >/dev/null && docker run --rm -v data:/d " + base + " sh -c 'echo v > /d/v'")
    (tmp_path / "provision.sh").write_text("echo provisioned\n")
    snap = web.snapshot(recipe_key([tmp_path], "test"), recipe=(tmp_path,), salt=("test",))
    snapshots.append(snap)
    assert (snap.name, snap.docker, snap.host_key) == ("web", "dind", web.host_key)

    assert web.run("cat /etc/provisioned").stdout == "provisioned\n", "the VPS runs again after its snapshot"
    first, second = vps_factory(from_snapshot=snap), vps_factory(from_snapshot=snap)
    for copy in (first, second):
        assert copy.run("hostname; cat /etc/provisioned").stdout == "web\nprovisioned\n"
        assert copy.host_key == web.host_key, "every copy presents the snapshot's host key"
        assert copy.run("cat /run/gone", check=False).exit_status != 0, "/run is a tmpfs: a copy boots"
        # {{.State}} is newer than Docker 18.09's client (ubuntu:16.04): the status text says it in both.
        listed = copy.run("docker ps -a --format '{{.Names}} {{.Status}}'").stdout.splitlines()
        states = dict(line.split(" ", 1) for line in listed)
        assert states["kept"].startswith("Up"), "a container with a restart policy starts at boot"
        assert states["once"].startswith("Exited"), "one without it stays down, as after a reboot"
        assert copy.run(f"docker run --rm -v data:/d {base} cat /d/v").stdout == "v\n", "inner volumes are kept"
    first.run("echo changed | sudo tee /etc/provisioned >/dev/null")
    assert second.run("cat /etc/provisioned").stdout == "provisioned\n", "copies share nothing"


def test_an_images_bottom_layer_stays_in_the_snapshots_files(
    vps_factory: Callable[..., Vps], snapshots: list[Snapshot]
) -> None:
    web = vps_factory(name="layers", docker="dind")
    # A file and a device node (as a debootstrapped base's /dev has), in an image of one layer.
    web.run("mkdir /tmp/l && echo in-the-layer > /tmp/l/file && mknod /tmp/l/null c 1 3", user="root")
    web.run("tar -C /tmp/l -c file null | docker import - tiny:1", user="root")
    # And one with a whiteout's device (0/0), which the VPS's own overlay would read as its own.
    # (The VPS's own overlay refuses to make one: the engine makes it from the tar, on its volume.)
    whiteout = io.BytesIO()
    gone = tarfile.TarInfo("gone")
    gone.type, gone.devmajor, gone.devminor = tarfile.CHRTYPE, 0, 0
    with tarfile.open(fileobj=whiteout, mode="w") as tar:
        tar.addfile(gone)
    web.run("docker import - white:1 >/dev/null", stdin=[whiteout.getvalue()])
    upper = web.run("docker image inspect -f '{{.GraphDriver.Data.UpperDir}}' tiny:1").stdout.strip()
    white = web.run("docker image inspect -f '{{.GraphDriver.Data.UpperDir}}' white:1").stdout.strip()
    layer = upper.split("/")[-2]
    kept = f"/var/lib/vps-harness/docker-seed/snapshot-layers/{layer}"
    snapshots.append(web.snapshot(uuid.uuid4().hex))
    assert web.run(f"readlink {upper}", user="root").stdout == kept + "\n", "the store links to the VPS's files"
    assert web.run(f"test -d {white} && ! test -L {white}", user="root", check=False).ok, "a whiteout stays in the tar"

    copy = vps_factory(from_snapshot=snapshots[0])
    assert copy.run(f"readlink {upper}", user="root").stdout == kept + "\n"
    copy.run("docker create --name probe tiny:1 x >/dev/null")
    read = copy.run("docker cp probe:/file - | tar -xO")
    assert read.stdout == "in-the-layer\n", "its files, read from where the image has them"
    copy.run("docker rm probe >/dev/null && docker rmi tiny:1 >/dev/null")
    snapshots.append(copy.snapshot(uuid.uuid4().hex))
    assert copy.run(f"test -e {kept}", check=False).exit_status == 1, "a layer the store lost is not kept again"


def test_images_ls_knows_snapshots_and_when_they_are_stale(
    vps_factory: Callable[..., Vps], vps_images: Images, snapshots: list[Snapshot], tmp_path: Path
) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "setup.sh").write_text("true\n")
    vps = vps_factory()
    snap = vps.snapshot(recipe_key([recipe], "x"), recipe=(recipe,), salt=("x",), power_on=False)
    snapshots.append(snap)

    def row() -> tuple[str, bool]:
        (found,) = [r for r in Catalogue(vps_images).ls() if r.tag == snap.tag]
        return found.kind, found.current

    assert row() == (SNAPSHOT, True)
    (recipe / "setup.sh").write_text("false\n")
    assert row() == (SNAPSHOT, False), "its provisioning changed: prune may remove it"


def test_the_reaper_leaves_snapshots_to_prune(
    vps_factory: Callable[..., Vps], vps_engine: docker.DockerClient, snapshots: list[Snapshot]
) -> None:
    vps = vps_factory()
    key = uuid.uuid4().hex
    snap = vps.snapshot(key, power_on=False)
    snapshots.append(snap)
    image_labels = vps_engine.images.get(snap.tag).labels
    assert image_labels[labels.SESSION] == vps.container.labels[labels.SESSION], "the engine merges its VPS's labels"
    # What the reaper does with a dead owner's resources, on this snapshot's label alone.
    remove_labelled(vps_engine, {"label": f"{labels.RECIPE_HASH}={key}"})
    assert vps_engine.images.get(snap.tag).id == snap.image_id


def test_a_socket_mode_vps_is_refused_by_name(vps_factory: Callable[..., Vps]) -> None:
    vps = vps_factory(name="sock", docker="socket")
    with pytest.raises(SnapshotRefused, match="VPS sock uses the host's engine .docker='socket'."):
        vps.snapshot("0" * 64)
    assert vps.run("true").ok, "it was not touched"


def test_a_copy_cannot_also_be_given_an_os(vps_factory: Callable[..., Vps], spec: OsSpec) -> None:
    fake = Snapshot("t", "sha256:0", spec, "web", "systemd", "none", "ssh-ed25519 AAAA", "")
    with pytest.raises(ValueError, match="a copy of snapshot t is what the snapshot was; drop os"):
        vps_factory(from_snapshot=fake, os=str(spec))


def test_a_world_copy_is_pristine_and_keeps_its_addresses(
    vps_fleet: Fleet, spec: OsSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One slot of this test's own per OS: a world's slot is a /24 locked machine-wide, and another xdist
    # worker's world (of any flow whose slots overlap, or this test's other OS) may take the slot the first
    # world freed, or hold the one it would have had; the second world is then a copy on another slot,
    # whose snapshots have that slot's addresses. With one slot, the second world waits for it.
    monkeypatch.setenv("VPS_HARNESS_WORLD_SUBNETS", f"10.214.{SUPPORTED.index(spec)}.0/24")

    def world() -> jenkins_slave0.JenkinsSlave0:
        with images_or_skip(spec):
            return snapshotted_world(
                jenkins_slave0.provision, vps_fleet, spec, "hardened", flow="jenkins-slave0-copies"
            )

    first = world()
    addresses = {name: first.addresses(vps) for name, vps in first.hosts.items()}
    assert set(addresses["host2"]) == {"public", "private"} and set(addresses["vm"]) == {"private"}
    first.host2.run("echo dirty | sudo tee /etc/dirty >/dev/null")
    vps_fleet.close()  # its slot is free again
    second = world()
    assert {name: second.addresses(vps) for name, vps in second.hosts.items()} == addresses
    assert not second.host2.run("test -e /etc/dirty", check=False).ok, "no copy sees another's changes"
    # nginx resolves its upstream vm-with-docker at start: the VM's container starts first.
    assert second.host2.run("systemctl is-active nginx", check=False).stdout == "active\n"
    assert second.laptop_ssh("docker@host2", "whoami").stdout == "myuser\n", "the hop to the VM works on a copy"
    assert "starts" in second.timings and "provisioning" not in second.timings, "a copy, not a provisioning"

    # No secret of the world in its snapshot images, no flow input on its hosts; its values in a 0600 file.
    shown = world_snapshot_text(vps_fleet.client, second.snapshot_key)
    assert second.jenkins_key.private.strip() not in shown and "PRIVATE KEY" not in shown
    assert '\\"values\\"' not in shown, "the world's label holds hosts, roles and steps only"
    inputs = "/opt/vps-flows/jenkins-slave0/inputs"
    for name in ("laptop", "host2", "vm"):  # the hosts its scripts ran on, each given inputs
        assert second.hosts[name].run(f"test -d {inputs} && ls -A {inputs}", sudo=True).stdout == "", name
    assert not second.outsider.run("test -e /opt/vps-flows", check=False).ok, "outsider runs none of its scripts"
    kept = vps_fleet.images.config.world_dir / f"{second.snapshot_key}.json"  # (the folder is shared by workers)
    assert kept.stat().st_mode & 0o777 == 0o600
    assert vps_fleet.images.config.world_dir.stat().st_mode & 0o777 == 0o700
    stale = vps_fleet.images.config.world_dir / f"{uuid.uuid4().hex}.json"  # a world whose snapshots are gone
    stale.write_text("{}")
    Catalogue(vps_fleet.images).forget_worlds()  # (another worker's call may be the one that removes it)
    assert not stale.exists(), "prune forgets the values of worlds without snapshots"
    assert kept.is_file()


def test_a_second_snapshot_under_one_key_replaces_the_first(
    vps_factory: Callable[..., Vps], vps_engine: docker.DockerClient, snapshots: list[Snapshot]
) -> None:
    vps = vps_factory()
    key = uuid.uuid4().hex
    first = vps.snapshot(key)
    second = vps.snapshot(key, power_on=False)
    snapshots.extend([first, second])
    assert second.tag == first.tag and second.image_id != first.image_id
    with pytest.raises(docker.errors.ImageNotFound):
        vps_engine.images.get(first.image_id)  # no untagged image left behind by a re-run


def test_a_copy_starts_without_the_mounts_its_snapshot_had(
    vps_factory: Callable[..., Vps],
    vps_fleet: Fleet,
    vps_engine: docker.DockerClient,
    snapshots: list[Snapshot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vps = vps_factory(name="mounted", docker="dind")
    if vps_fleet.images.package_proxy(vps.os) is not None:  # the cache is on in this run: the VPS has its file
        assert "Acquire::http::Proxy " in vps.run("apt-config dump").stdout
    snap = vps.snapshot(uuid.uuid4().hex)
    snapshots.append(snap)
    declared = vps_engine.images.get(snap.tag).attrs["Config"].get("Volumes") or {}
    assert not {cache.APT_CONF, SECRETS_MOUNT, "/var/lib/docker", "/sys/fs/cgroup"} & set(declared), (
        f"a mount of the VPS is no volume of its image: {sorted(declared)}"
    )
    # A copy started with the package cache off (VPS_HARNESS_PACKAGE_CACHE=0), whatever the snapshot had.
    monkeypatch.setattr(vps_fleet.images, "package_proxy", lambda spec: None)
    copy = vps_factory(from_snapshot=snap)
    assert "Acquire::http::Proxy " not in copy.run("apt-config dump").stdout, "apt goes to the archive directly"
    copy.container.reload()
    volumes = {mount["Destination"]: mount for mount in copy.container.attrs["Mounts"] if mount["Type"] == "volume"}
    assert sorted(volumes) == ["/var/lib/containerd", "/var/lib/docker"], "its engine's own volumes, no anonymous one"
    for volume in volumes.values():
        found = vps_engine.volumes.get(volume["Name"]).attrs["Labels"] or {}
        assert found.get(labels.SESSION) == vps_fleet.session


def test_provisioned_provisions_once_and_every_call_gets_a_copy(
    vps_fleet: Fleet, vps_engine: docker.DockerClient, spec: OsSpec, tmp_path: Path
) -> None:
    script = tmp_path / "provision.sh"
    script.write_text(f"echo {uuid.uuid4().hex} > /etc/provisioned\n")
    name = f"p{uuid.uuid4().hex[:8]}"
    calls: list[str] = []

    def remove_snapshots() -> None:  # this test's, by its own name
        for image in vps_engine.images.list(name=snapshot.REPOSITORY):
            if any(tag.startswith(f"{snapshot.REPOSITORY}:{spec.id}-{name}-") for tag in image.tags):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    vps_engine.images.remove(image.id)

    vps_fleet.on_close(remove_snapshots)

    def provision(vps: Vps) -> None:
        calls.append(vps.name)
        vps.put(script, "/root/provision.sh")
        vps.run("sh /root/provision.sh", sudo=True)

    with pytest.raises(ValueError, match=r"takes variable 'calls', variable 'script' from outside its file"):
        vps_fleet.provisioned(spec, provision, recipe=[script], name=name)
    assert not vps_fleet.vpses, "refused before anything started"

    def copy() -> Vps:  # salt: this test's script, named in recipe, is all the closure brings in
        return vps_fleet.provisioned(spec, provision, recipe=[script], name=name, salt=["one script"])

    first, second = at_once([copy, copy])
    assert calls == [name], "two at once: one provisions, the other waits for its snapshot"
    wanted = script.read_text().split()[1] + "\n"
    assert first.run("hostname; cat /etc/provisioned").stdout == f"{name}\n{wanted}"
    assert second.run("hostname; cat /etc/provisioned").stdout == f"{name}\n{wanted}"
    first.run("sudo rm /etc/provisioned")
    assert second.run("cat /etc/provisioned").stdout == wanted, "copies share nothing"
    assert [vps.name for vps in vps_fleet.vpses] == [name, name], "the provisioned VPS itself is gone"

    script.write_text("echo changed > /etc/provisioned\n")
    third = copy()
    assert calls == [name, name], "a changed recipe is provisioned again"
    assert third.run("cat /etc/provisioned").stdout == "changed\n"


def test_provisioned_refuses_a_socket_vps_before_starting_it(vps_fleet: Fleet, spec: OsSpec) -> None:
    with pytest.raises(SnapshotRefused, match="VPS install uses the host's engine"):
        vps_fleet.provisioned(spec, install, docker="socket")
    assert not vps_fleet.vpses


def install(vps: Vps) -> None:
    """A provisioning at module level: nothing from outside this file, so no salt."""
    vps.run("true")


def test_a_failed_provisioning_keeps_its_vps_for_the_report(vps_fleet: Fleet, spec: OsSpec) -> None:
    def broken(vps: Vps) -> None:
        vps.run("echo half-done >&2; exit 3")

    with pytest.raises(CommandFailed, match="exited 3"):
        vps_fleet.provisioned(spec, broken, salt=[uuid.uuid4().hex])
    assert [vps.name for vps in vps_fleet.vpses] == ["broken"], "named after its provisioning"
    assert "half-done" in vps_fleet.vpses[0].report(), "its report shows what it said"


def test_vps_factory_wants_provision_with_a_recipe(vps_factory: Callable[..., Vps], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="recipe and salt make the key .* give provision too"):
        vps_factory(recipe=[tmp_path])
