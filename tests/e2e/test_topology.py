"""Docker inside VPSes and several VPSes on private networks, end to end."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from harness import labels
from harness.errors import UsageError, VpsNotReady
from harness.images import SEED_LAYERS, Images
from harness.spec import OsSpec
from harness.vps import Vps
from tests.e2e.environment import images_or_skip

pytestmark = pytest.mark.docker

RECIPES = Path(__file__).parent / "recipes"

SERVER = """use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $c = $s->accept) {
    while (<$c>) { last if /^\\r?$/ }
    print $c "HTTP/1.0 200 OK\\r\\n\\r\\nbuilt FROM $ENV{BASE}\\n";
    close $c;
}
"""


def get_until_up(url: str, tries: int = 100) -> requests.Response:
    for _ in range(tries):
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


@pytest.mark.vps(docker="dind")
def test_dind_builds_from_its_own_base_and_publishes_a_port(vps: Vps, vps_os: OsSpec) -> None:
    info = vps.run("docker info --format '{{.Driver}}'").stdout.strip()
    assert info == "overlay2", "never vfs: /var/lib/docker is on a volume, not the container's overlay"
    vps.run("mkdir -p /srv/app", sudo=True)
    vps.put_text(SERVER, "/srv/app/server.pl")
    vps.put_text(
        f'FROM {vps_os.registry_ref}\nENV BASE={vps_os.registry_ref}\nCOPY server.pl /\nCMD ["perl", "/server.pl"]\n',
        "/srv/app/Dockerfile",
    )
    vps.run("cd /srv/app && docker build -q -t app .", timeout=180)
    vps.run("docker run -d -p 8080:8080 app")
    answer = get_until_up(f"http://127.0.0.1:{vps.forward(8080)}/")
    assert answer.text == f"built FROM {vps_os.registry_ref}\n"


def test_dind_vps_starts_with_its_base_loaded_in_place(
    vps_factory: Callable[..., Vps], vps_images: Images, vps_os: OsSpec
) -> None:
    with images_or_skip(vps_os):
        base = vps_images.base(vps_os)
    layers = len(base.attrs["RootFS"]["Layers"])
    if layers != 1:
        pytest.skip(f"{vps_os}'s base has {layers} layers: its DinD VPSes load it at start, not in place")
    first = vps_factory(docker="dind")
    listed = first.run("docker images --format '{{.Repository}}:{{.Tag}}'").stdout.split()
    assert listed == [vps_os.registry_ref], "named as a pull names it, and by no other name"
    inspect = f"docker image inspect -f '{{{{.Id}}}} {{{{.GraphDriver.Data.UpperDir}}}}' {vps_os.registry_ref}"
    image_id, layer = first.run(inspect).stdout.split()
    assert image_id == base.id, "the very image the VPS image was built FROM"
    seed = first.run(f"readlink {layer}", sudo=True).stdout.strip()
    assert seed == f"{SEED_LAYERS}/{base.id[7:23]}", "its files are the image's, not a copy"
    first.run(f"docker rmi -f {base.id}")
    assert first.run("docker images -q").stdout == ""
    first.stop()
    first.start()
    assert first.run("docker images -q").stdout == "", "a removed base stays removed after a reboot"
    assert first.run(f"test -x {seed}/bin/sh", check=False).ok
    second = vps_factory(docker="dind")
    assert second.run(inspect).stdout.split()[0] == base.id, "another VPS's engine is its own"


def test_inner_images_are_in_a_dind_vps_engine_from_the_start(
    vps_factory: Callable[..., Vps], vps_images: Images, vps_os: OsSpec
) -> None:
    with images_or_skip(vps_os):
        greeter = vps_images.inner(vps_os, "greeter:1", RECIPES / "greeter")
    assert vps_images.inner(vps_os, "greeter:1", RECIPES / "greeter") == dataclasses.replace(greeter, built=False)
    vps = vps_factory(docker="dind", inner=[greeter])
    listed = vps.run("docker images --format '{{.Repository}}:{{.Tag}}'").stdout.split()
    assert sorted(listed) == sorted([vps_os.registry_ref, "greeter:1"])
    release = vps.run(". /etc/os-release && echo $ID $VERSION_ID").stdout.strip()
    assert vps.run("docker run --rm greeter:1").stdout == f"hello from {release}\n"
    config = json.loads(vps.run("docker image inspect -f '{{json .Config}}' greeter:1").stdout)
    assert "GREETING=hi there" in config["Env"] and list(config["Volumes"]) == ["/data"]
    assert config["WorkingDir"] == "/data" and config["Cmd"] == ["cat", "/greeting"]
    layers = vps.run("docker image inspect -f '{{len .RootFS.Layers}}' greeter:1").stdout.strip()
    assert layers == "1", "flattened: a seed holds one-layer images"
    if len(vps_images.base(vps_os).attrs["RootFS"]["Layers"]) == 1:
        upper = vps.run("docker image inspect -f '{{.GraphDriver.Data.UpperDir}}' greeter:1").stdout.strip()
        assert vps.run(f"readlink {upper}", sudo=True).stdout.strip() == f"{SEED_LAYERS}/{greeter.seed_name}"


def test_dind_engine_lives_on_a_labelled_volume_removed_with_the_vps(
    vps_factory: Callable[..., Vps], vps_engine: docker.DockerClient
) -> None:
    vps = vps_factory(docker="dind")
    assert [volume.name for volume in vps.volumes] == [
        f"{vps.container.name}-docker",
        f"{vps.container.name}-containerd",
    ], "Docker's store and containerd's each on a volume"
    for volume in vps.volumes:
        assert labels.SESSION in volume.attrs["Labels"]
    for store in ("/var/lib/docker", "/var/lib/containerd"):
        assert vps.run(f"findmnt -n -o TARGET {store}").stdout.strip() == store
    assert "docker.service" in vps.run("systemctl list-units --state=running --no-legend docker.service").stdout
    vps.remove()
    for volume in vps.volumes:
        with pytest.raises(docker.errors.NotFound):
            vps_engine.volumes.get(volume.name)


def test_an_inner_engine_that_fails_or_dies_is_in_the_error_and_the_report(
    vps_factory: Callable[..., Vps],
) -> None:
    vps = vps_factory(docker="dind")
    vps.run("sudo systemctl kill --signal=KILL docker.service")
    # systemctl kill only sends the signal: wait (bounded) until systemd has reaped and logged it.
    vps.run(
        "i=0; until journalctl -u docker.service --no-pager | grep -q status=9/KILL; do "
        "i=$((i+1)); [ $i -le 100 ] || exit 1; sleep 0.1; done",
        sudo=True,
    )
    assert "status=9/KILL" in vps.report().split("--- inner Docker engine")[1]
    vps.put_text('{"storage-driver": "no-such-driver"}\n', "/etc/docker/daemon.json")
    vps.stop()
    with pytest.raises(VpsNotReady) as caught:
        vps.start()
    message = str(caught.value)
    assert f"the Docker engine inside VPS {vps.name} never answered `docker info`" in message
    assert "no-such-driver" in message, "its journal says why"


def test_socket_mode_siblings_are_labelled_and_removed_with_the_vps(
    vps_factory: Callable[..., Vps], vps_engine: docker.DockerClient, vps_images: Images, vps_os: OsSpec
) -> None:
    vps = vps_factory(docker="socket")
    base = vps_images.base(vps_os).tags[0]
    name = f"sibling-{uuid.uuid4().hex[:8]}"
    assert vps.run("ls -l /var/run/docker.sock").stdout.startswith("s")
    cid = vps.run(f"docker run -d --name {name} {base} sleep 300").stdout.strip()
    sibling = vps_engine.containers.get(name)
    assert sibling.id == cid and sibling.status == "running"
    assert sibling.labels[labels.PARENT] == vps.container.name
    assert sibling.labels[labels.SESSION] == vps.container.labels[labels.SESSION]
    assert name in vps.run("docker ps --format '{{.Names}}'").stdout
    vps.run(f"printf 'FROM {base}\\nLABEL built=here\\n' | docker build -q -t {name}:1 --label mine=1 -", timeout=120)
    built = vps_engine.images.get(f"{name}:1")
    assert built.labels["mine"] == "1" and built.labels[labels.PARENT] == vps.container.name
    vps.remove()
    with pytest.raises(docker.errors.NotFound):
        vps_engine.containers.get(cid)
    with pytest.raises(docker.errors.ImageNotFound):
        vps_engine.images.get(built.id)


def test_two_vpses_reach_each_other_by_alias_on_a_private_network(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., docker.models.networks.Network]
) -> None:
    net = vps_network()
    client = vps_factory(name="client", networks=[net])
    host = vps_factory(name="host2", networks=[net], aliases=["docker.my.domain"])
    assert client.run("getent hosts docker.my.domain").stdout.split()[0] == host.ip_on(net) == host.ip
    assert host.run("getent hosts client").stdout.split()[0] == client.ip_on(net)
    assert client.ip_on(net) != client.cables.bridge_ip(), "the harness's own SSH is not on the private network"


def test_ssh_from_one_vps_to_another_with_distributed_keys(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., docker.models.networks.Network]
) -> None:
    net = vps_network()
    deployer = vps_factory(name="deployer", networks=[net])
    target = vps_factory(name="target", networks=[net], aliases=["prod.internal"])
    refused = deployer.run("ssh -o BatchMode=yes prod.internal true", check=False)
    assert refused.exit_status == 255
    deployer.trust(target)
    assert deployer.run("ssh -o BatchMode=yes prod.internal hostname").stdout == "target\n"
    assert deployer.run(f"ssh -o BatchMode=yes {target.ip_on(net)} id -un").stdout == "vps\n"
    deployer.trust(target, user="root", as_user="root")
    assert deployer.run("ssh -o BatchMode=yes root@target id -un", sudo=True).stdout == "root\n"


def test_unpublished_vps_is_reached_through_a_jump(
    vps_factory: Callable[..., Vps],
    vps_network: Callable[..., docker.models.networks.Network],
) -> None:
    net = vps_network()
    bastion = vps_factory(name="bastion", networks=[net])
    inner = vps_factory(name="inner", networks=[net], publish_ssh=False)
    assert not inner.container.attrs["NetworkSettings"]["Ports"].get("22/tcp")
    with pytest.raises(UsageError, match="no published SSH port"):
        _ = inner.ssh_port
    bastion.jump_to(inner)
    client_ip = inner.run("echo $SSH_CONNECTION").stdout.split()[0]
    assert client_ip == bastion.ip_on(net), "the connection comes from the bastion"
    inner.put_text("through the bastion\n", "/tmp/jumped")
    assert inner.read_text("/tmp/jumped") == "through the bastion\n"
    openssh = [*shlex.split(inner.ssh_command()), "-o", "BatchMode=yes", "hostname"]
    answer = subprocess.run(openssh, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert answer.stdout == "inner\n", f"the printed ssh line goes through the bastion: {answer.stderr}"


def test_network_cut_and_repair(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., docker.models.networks.Network]
) -> None:
    net = vps_network()
    a = vps_factory(name="a", networks=[net])
    b = vps_factory(name="b", networks=[net])
    reach = f"timeout 3 bash -c '</dev/tcp/{b.ip_on(net)}/22'"
    assert a.run(reach, check=False).exit_status == 0
    b.disconnect(net)
    assert a.run(reach, check=False).exit_status != 0
    assert b.run("hostname").stdout == "b\n", "the harness still reaches it"
    b.connect(net)
    assert a.run(f"timeout 3 bash -c '</dev/tcp/{b.ip_on(net)}/22'", check=False).exit_status == 0
    assert a.run("getent hosts b", check=False).exit_status == 0


def test_a_vps_off_the_default_bridge_is_on_its_networks_alone_and_reached_there(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., docker.models.networks.Network]
) -> None:
    with pytest.raises(ValueError, match=r"VPS lonely is to be off the engine's default bridge .* give networks="):
        vps_factory(name="lonely", default_bridge=False)
    net = vps_network()
    member = vps_factory(name="member", networks=[net])
    alone = vps_factory(name="alone", networks=[net], default_bridge=False, publish_ssh=False)
    assert (member.default_bridge, alone.default_bridge) == (True, False)
    assert list(alone.container.attrs["NetworkSettings"]["Networks"]) == [net.name]
    address = alone.ip_on(net)
    assert (alone.route.address, alone.route.port) == (address, 22), "this machine reaches it on its network"
    assert alone.run("echo $SSH_CONNECTION").stdout.split()[2] == address
    assert member.run("timeout 3 bash -c '</dev/tcp/alone/22'", check=False).exit_status == 0

    alone.disconnect(net)  # its one cable, the harness's too
    assert member.run(f"timeout 3 bash -c '</dev/tcp/{address}/22'", check=False).exit_status != 0
    alone.connect(net)
    assert alone.run("hostname").stdout == "alone\n", "the harness reaches it again, where it is now"
    assert member.run("timeout 3 bash -c '</dev/tcp/alone/22'", check=False).exit_status == 0


def test_stop_and_start_keep_files(vps: Vps) -> None:
    vps.put_text("still here\n", "/root/kept")
    vps.stop()
    assert vps.container.status == "exited"
    vps.start()
    assert vps.read_text("/root/kept") == "still here\n"
    assert vps.run("systemctl is-system-running").stdout.strip() == "running"


def test_three_host_world(
    vps_factory: Callable[..., Vps], vps_network: Callable[..., docker.models.networks.Network], vps_os: OsSpec
) -> None:
    """A bastion, a Docker host and a client; the client deploys to the Docker host over SSH."""
    net = vps_network()
    bastion = vps_factory(name="bastion", networks=[net])
    docker_host = vps_factory(
        name="dockerhost", networks=[net], aliases=["docker.my.domain"], docker="dind", publish_ssh=False
    )
    client = vps_factory(name="client", networks=[net], publish_ssh=False)
    bastion.jump_to(docker_host)
    bastion.jump_to(client)
    client.trust(docker_host)
    deploy = "ssh -o BatchMode=yes docker.my.domain " + shlex.quote(
        f"docker run -d --name web -p 8080:8080 -e BASE={vps_os.registry_ref} {vps_os.registry_ref} "
        f"perl -e {shlex.quote(SERVER)}"
    )
    client.run(deploy)
    answer = get_until_up(f"http://127.0.0.1:{docker_host.forward(8080)}/")
    assert answer.text == f"built FROM {vps_os.registry_ref}\n"
    fetched = client.run("curl -fsS http://docker.my.domain:8080/")
    assert fetched.stdout == answer.text
    assert docker_host.run("docker ps --format '{{.Names}}'").stdout == "web\n"
