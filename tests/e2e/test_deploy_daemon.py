"""The deploy-daemon flow: a bare server bootstrapped over SSH as a deploy tool
bootstraps one (Docker from the archive, deployd's image loaded, deployd
started), then deployd driving docker-compose through the engine's socket;
and the same with the host's engine socket mounted in place of the server's
own engine."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests
from cryptography import x509

from harness import labels
from harness.fleet import Fleet
from harness.flows.deploy_daemon import DeployDaemon, provision
from harness.flows.world import ProvisioningFailed
from harness.spec import OsSpec
from harness.vps import Vps
from tests.e2e.environment import images_or_skip

pytestmark = pytest.mark.docker


def web_containers(names: list[str], app: str) -> list[str]:
    """The app's web containers among ``names``: ``APP_web_1`` (docker-compose 1) or ``APP-web-1`` (2)."""
    return [name for name in names if re.fullmatch(rf"{app}[_-]web[_-]1", name)]


def test_a_bare_vps_has_no_docker_until_its_provisioning_installs_it(vps_factory) -> None:
    server: Vps = vps_factory(docker="bare")
    assert server.run("command -v docker dockerd containerd", check=False).stdout == ""
    assert server.run("systemctl show -p LoadState docker.service").stdout == "LoadState=not-found\n"
    # Room for an engine all the same: /var/lib/docker on a volume of its own (never the overlay).
    mounts = {m["Destination"]: m for m in server.container.attrs["Mounts"]}
    assert mounts["/var/lib/docker"]["Type"] == "volume"


def test_the_bootstrap_installs_the_engine_and_deployd_answers(deploy_daemon: DeployDaemon) -> None:
    world, server = deploy_daemon, deploy_daemon.server
    engine = next(step for step in world.steps if step.script == "docker.sh")
    assert any(line.startswith("installed docker.io") for line in engine.changed), engine.output
    assert server.run("systemctl is-enabled docker; systemctl is-active docker").stdout == "enabled\nactive\n"
    assert server.run("docker images --format '{{.Repository}}:{{.Tag}}'").stdout == "deployd:1\n", (
        "the one image the tool loaded, under its own name"
    )
    load = next(step for step in world.steps if step.script == "load deployd image")
    assert world.daemon is not None
    assert load.changed == (f"deployd:1 loaded ({world.daemon.tag})",), "shipped over SSH on the first run"

    answer = world.request("GET", "/", token=False)
    assert answer.status_code == 200 and answer.json() == {"daemon": "deployd", "apps": []}
    # deployd's own certificate, verified, for the server's name, localhost and 127.0.0.1.
    names = x509.load_pem_x509_certificate(world.cert.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert {"server", "localhost"} <= set(names.value.get_values_for_type(x509.DNSName))
    assert [str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(world.url + "/", timeout=10)  # the system's CAs do not know it
    assert world.request("GET", f"/apps/{world.app}", token=False).status_code == 401
    assert server.run("docker exec deployd stat -c '%a' /srv/deployd/token").stdout == "600\n"
    assert world.token not in server.report(), "the token is a secret"

    again = world.apply()
    assert [(step.script, step.changed) for step in again] == [
        ("docker.sh", ()),
        ("load deployd image", ()),
        ("deployd.sh", ()),
    ], "a second bootstrap changes nothing: the engine, the image (the same build after save and load), deployd"
    assert world.request("GET", "/", token=False).status_code == 200


def version(text: str) -> tuple[int, ...]:
    """``(1, 29, 2)`` of the first dotted version in ``text``."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    assert found, text
    return tuple(int(part) for part in found.groups(default="0"))


def test_up_runs_the_app_beside_deployd_on_the_servers_engine(
    deploy_daemon: DeployDaemon, record_property: Callable[[str, object], None]
) -> None:
    world, server = deploy_daemon, deploy_daemon.server
    # The archive's docker-compose: 1.x is Python and imports distutils, which Python 3.12 dropped;
    # deployd's image has python3-setuptools, which puts it back. Without it:
    compose = server.run("docker exec deployd docker-compose version").stdout
    python = server.run("docker exec deployd python3 --version").stdout
    alone = server.run("docker exec -e SETUPTOOLS_USE_DISTUTILS=stdlib deployd docker-compose version", check=False)
    if "docker-compose version 1." in compose and version(python) >= (3, 12):
        assert not alone.ok and "No module named 'distutils'" in alone.stdout + alone.stderr, alone.stdout
        record_property(
            "expected",
            f"the archive's docker-compose {'.'.join(map(str, version(compose)))} imports distutils, which "
            f"Python {'.'.join(map(str, version(python)[:2]))} dropped: deployd's image adds python3-setuptools",
        )
    else:
        assert alone.ok, alone.stdout + alone.stderr

    world.deploy()
    assert world.up() == "webapp 1\n"

    names = world.names()
    web = web_containers(names, "hello")
    assert len(web) == 1 and {"deployd", "deployd-compose-hello"} <= set(names), names
    assert len(names) == 3, f"daemon, compose and the app side by side, nothing else: {names}"
    # Siblings, not nested: deployd and compose have the socket, no engine of their own.
    for container in ("deployd", "deployd-compose-hello"):
        assert server.run(f"docker exec {container} sh -c 'command -v dockerd'", check=False).stdout == ""
    # The app's image was built on the server's engine FROM deployd's image.
    built = server.run(f"docker inspect -f '{{{{.Image}}}}' {web[0]}").stdout.strip()
    env = server.run(f"docker image inspect -f '{{{{range .Config.Env}}}}{{{{println .}}}}{{{{end}}}}' {built}")
    assert "WEBAPP_VERSION=1" in env.stdout.split()
    # Not reachable from outside the server: the app's port is on its loopback.
    published = server.run(f"docker port {web[0]} 8080/tcp").stdout.strip()
    assert published.startswith("127.0.0.1:"), published

    state = world.request("GET", "/apps/hello").json()
    assert state["status"] == "running" and "webapp 1 listening on :8080" in state["output"], state
    answer = world.down()
    assert answer["exit"] == 0, answer["output"]
    assert world.names() == ["deployd"]
    assert server.run("docker images --format '{{.Repository}}'").stdout.split() == ["deployd"], (
        "down removes the image compose built"
    )


def test_with_the_hosts_socket_deployd_and_the_app_run_beside_the_server(
    vps_fleet: Fleet, spec: OsSpec, record_property: Callable[[str, object], None]
) -> None:
    engine_api = version(vps_fleet.client.version()["ApiVersion"])
    try:
        with images_or_skip(spec):
            world = provision(vps_fleet, spec, "socket")
    except ProvisioningFailed as e:
        # Docker 29's client speaks API 1.44 at least: an engine older than Docker 25 refuses it.
        client = vps_fleet.vpses[-1].run("docker --version").stdout
        assert version(client) >= (29,) and engine_api < (1, 44), f"{client.strip()}, engine API {engine_api}: {e}"
        assert e.script == "docker.sh" and "refuses this server's docker client" in str(e), str(e)
        record_property(
            "expected",
            f"the server's docker {'.'.join(map(str, version(client)))} speaks API 1.44 at least; the host "
            f"engine behind the socket, {'.'.join(map(str, engine_api))} at most",
        )
        return
    try:
        check_socket_world(world)
    finally:
        world.close()


def check_socket_world(world: DeployDaemon) -> None:
    server = world.server
    engine = next(step for step in world.steps if step.script == "docker.sh")
    assert engine.changed == () and "not this server's own" in engine.output, "nothing to install"
    assert server.run("systemctl is-active docker", check=False).stdout.strip() != "active"

    assert world.request("GET", "/", token=False).json() == {"daemon": "deployd", "apps": []}
    world.deploy()
    assert world.up() == "webapp 1\n"
    names = world.names()
    # One engine for all: the server sees its own container beside deployd and the app.
    assert {server.container.name, world.daemon_name, f"{world.daemon_name}-compose-{world.app}"} <= set(names)
    [web] = web_containers(names, world.app)
    # ... on the host: the page answers this process directly, on the host's loopback.
    assert world.web_url().startswith("http://127.0.0.1:")
    host = server.client
    for name in (world.daemon_name, web):
        found = host.containers.get(name).labels
        assert found.get(labels.PARENT) == server.container.name, f"{name} is removed with the server"
    data = host.volumes.get(f"{world.daemon_name}-data")
    assert data.attrs["Labels"].get(labels.PARENT) == server.container.name
    assert world.down()["exit"] == 0
    assert host.containers.list(all=True, filters={"label": f"com.docker.compose.project={world.app}"}) == []
    assert host.images.list(filters={"reference": f"{world.app}*"}) == [], "its built image went with down"
