"""The deploy-daemon flow: a fresh server bootstrapped over SSH the way a
Heroku-like deploy tool bootstraps one, then its daemon driving docker-compose
through the engine's socket.

One VPS, ``server``, on a private network::

    the tool (the test)  --SSH: install docker.io, start it; docker load deployd:1; run deployd-->  server
         |                                                                                          |
         +--HTTPS :8081 (deployd's own certificate, a bearer token)-->  deployd  (socket mounted)   |
                 PUT /apps/hello, POST /apps/hello/up                      |  docker run            |
                                                                           v                        |
                                  deployd-compose-hello: docker-compose up (socket, app mounted)    |
                                                                           |  builds, starts        |
                                                                           v                        |
                                  hello's web container: a sibling on the server's engine, :8080 ---+

Variants: ``dind`` (the server's image has no Docker, ``docker="bare"``: the
bootstrap installs the engine from the distribution archive and starts it;
deployd, compose and the app run on it) and ``socket`` (the server has the
host's engine socket mounted, ``docker="socket"``: the bootstrap finds an
engine answering and installs none; deployd, compose and the app run on the
host's engine, beside the server's own container). On a shared engine,
paths in ``-v`` are the engine host's (deployd's data goes on a volume, its
socket is the one the harness serves the server), ports are the host's
(deployd's :8081 goes on a loopback port the engine picks) and names are
everyone's (deployd and the app get names of their own).
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import requests
from docker.models.networks import Network

from harness import (
    KEY_LABEL,
    CommandFailed,
    DockerMode,
    Fleet,
    HarnessError,
    ImageUnavailable,
    InnerEngineUnsupported,
    InnerImage,
    OsSpec,
    Vps,
    VpsWant,
    inner_engine_unsupported,
    wait_for,
)
from harness.flows.ci_registry import FOLDER as CI_REGISTRY
from harness.flows.world import LOCAL, ProvisioningFailed, Scripts, Step, World, provision_world, tar_of

FOLDER = Path(__file__).parent
SCRIPTS = Scripts("deploy-daemon", FOLDER)
VARIANTS = ("dind", "socket")
#: deployd's image recipe, and its name on the server's own engine.
DAEMON_RECIPE = FOLDER / "daemon"
DAEMON_IMAGE = "deployd:1"
DAEMON_PORT = 8081
#: The app the flow deploys: ``project/`` with the CI-registry flow's webapp beside it.
PROJECT = FOLDER / "project"
WEBAPP = CI_REGISTRY / "webapp"
WEB_PORT = 8080
#: Where deployd keeps its certificate (and key, token, apps), inside its container.
DATA = "/srv/deployd"
ROLES = {
    "server": f"deployd on :{DAEMON_PORT} (HTTPS, its own certificate), driving docker-compose through the socket",
}


class DeployFailed(HarnessError):
    """deployd refused a request, or an app's compose run failed: what it said."""


@dataclass
class DeployDaemon(World):
    """The bootstrapped server and a client of its deployd.

    ``cert`` is deployd's certificate (PEM, made by deployd at its first
    start) and ``cert_path`` a file of it here; ``token`` its API token,
    made here and installed by the bootstrap (a secret: ``[secret]`` in
    transcripts and reports); ``url`` where this process reaches deployd;
    ``app`` the name to deploy the example app under (unique on a shared engine).

    A copy of its snapshots (``dind`` only: the ``socket`` variant's
    containers live on the host's engine) boots with deployd's container,
    which restarts unless stopped, and is ready when deployd answers.
    """

    FLOW = "deploy-daemon"
    VARIANTS = VARIANTS
    ROLES = ROLES
    READY: ClassVar[tuple[tuple[str, str], ...]] = (("server", "deployd-ready.sh"),)
    NOT_COPIED: ClassVar[tuple[str, ...]] = ("socket",)
    SCRIPTS: ClassVar[Scripts | None] = SCRIPTS

    daemon_name: str = "deployd"
    daemon_image: str = DAEMON_IMAGE
    app: str = "hello"
    cert: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    url: str = field(default="", metadata=LOCAL)
    _folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vps-harness-deployd-")), metadata=LOCAL)
    #: deployd's image on this machine, which the bootstrap ships to the server's own engine.
    daemon: InnerImage | None = field(default=None, metadata=LOCAL)
    _up: set[str] = field(default_factory=set, metadata=LOCAL)

    @classmethod
    def wanted(cls, fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network]) -> dict[str, VpsWant]:
        """The server: room for the engine its bootstrap installs (dind), or the host's engine's socket."""
        if spec.package_family != "apt":
            raise ImageUnavailable(
                f"the deploy-daemon flow runs docker-compose from the distribution archive, and {spec}'s "
                f"({spec.package_family} family) has none (EPEL has)"
            )
        fleet.images.inner(spec, DAEMON_IMAGE, DAEMON_RECIPE)  # deployd's image, which the bootstrap ships
        docker: DockerMode = "bare" if variant == "dind" else "socket"
        return {"server": VpsWant(spec, name="server", networks=[networks["private"]], docker=docker)}

    def prepare(self, fleet: Fleet) -> None:
        daemon = fleet.images.inner(self.os, DAEMON_IMAGE, DAEMON_RECIPE)
        if self.variant == "socket":  # on the host's engine: names of this world's own
            self.daemon_name = f"deployd-{self.server.container.name}"
            self.daemon_image = daemon.tag
            self.app = f"hello{secrets.token_hex(3)}"
        if self.variant == "dind":
            self.daemon = daemon

    @property
    def server(self) -> Vps:
        return self.hosts["server"]

    @property
    def cert_path(self) -> Path:
        return self._folder / "deployd.pem"

    def request(self, method: str, path: str, token: bool = True, **kwargs: Any) -> requests.Response:
        """An HTTPS request to deployd (its certificate verified), with the token unless ``token=False``."""
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return requests.request(
            method, self.url + path, headers=headers, verify=str(self.cert_path), timeout=120, **kwargs
        )

    def deploy(self, app: str = "") -> None:
        """Send the example app (``project/`` and the webapp) to deployd as ``app``."""
        app = app or self.app
        self._call("PUT", f"/apps/{app}", 201, data=project_tar())

    def up(self, app: str = "", timeout: float = 300) -> str:
        """Ask deployd to start ``app`` and wait until its web page answers; the page."""
        app = app or self.app
        self._call("POST", f"/apps/{app}/up", 202)
        self._up.add(app)
        return wait_for(
            lambda: self.page(app),
            timeout=timeout,
            what=f"app {app}'s web page through deployd on VPS {self.server.name}",
            still_alive=lambda: self._compose_ended(app),
            max_delay=0.5,
        )

    def down(self, app: str = "") -> dict[str, Any]:
        """Ask deployd to stop and remove ``app`` (its containers, network and built image); what it said."""
        app = app or self.app
        answer = self._call("POST", f"/apps/{app}/down", 200)
        self._up.discard(app)
        return answer

    def web_url(self, app: str = "") -> str:
        """Where this process reaches ``app``'s web container (its published port, through the server when
        the engine is the server's own)."""
        app = app or self.app
        project = shlex.quote(f"label=com.docker.compose.project={app}")
        found = self.server.run(
            f"docker ps -q --filter {project} --filter label=com.docker.compose.service=web"
        ).stdout.split()
        if len(found) != 1:
            raise DeployFailed(f"app {app} has {len(found)} running web containers, not one")
        return f"http://127.0.0.1:{reach(self.server, found[0], WEB_PORT)}/"

    def page(self, app: str = "") -> str:
        """``app``'s web page."""
        response = requests.get(self.web_url(app), timeout=10)
        response.raise_for_status()
        return response.text

    def names(self) -> list[str]:
        """The names of the running containers the server's ``docker ps`` lists."""
        return sorted(self.server.run("docker ps --format '{{.Names}}'").stdout.split())

    def apply(self) -> list[Step]:
        """Run the bootstrap again (it is idempotent); the steps, to see what changed."""
        return apply(self)

    def secrets(self) -> tuple[str, ...]:
        return (self.token,)

    def restored(self, fleet: Fleet) -> None:
        """A copy's deployd answers: a file of its certificate here, a forward to it, the image a second
        bootstrap would ship."""
        if self.variant == "dind":
            self.daemon = fleet.images.inner(self.os, DAEMON_IMAGE, DAEMON_RECIPE)
        self._connect()

    def close(self) -> None:
        """Take down the apps still up, each tried, and remove ``cert_path``; the first failure is raised.

        On a shared engine what compose made outlives the server only if this
        fails: the socket labels it, and the server's removal takes it along.
        """
        failed: list[Exception] = []
        for app in sorted(self._up):
            try:
                self.down(app)
            except (HarnessError, requests.RequestException) as e:
                failed.append(e)
        shutil.rmtree(self._folder, ignore_errors=True)
        if failed:
            raise failed[0]

    def describe(self) -> str:
        where = f"docker exec {self.daemon_name} cat {DATA}"
        reach = self.url if self.server.docker == "socket" else f"https://localhost:{DAEMON_PORT}/ on server"
        return "\n".join(
            [super().describe(), f"  deployd: {reach}; certificate `{where}/tls/cert.pem`, token `{where}/token`"]
        )

    def _connect(self) -> None:
        """``cert_path`` from ``cert``, and ``url``: a way from here to deployd's published port."""
        self.cert_path.write_text(self.cert)
        self.url = f"https://127.0.0.1:{reach(self.server, self.daemon_name, DAEMON_PORT)}"

    def _call(self, method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        if response.status_code != expected:
            raise DeployFailed(f"deployd answered {method} {path} with {response.status_code}: {response.text.strip()}")
        answer: dict[str, Any] = response.json()
        return answer

    def _compose_ended(self, app: str) -> str | None:
        container = shlex.quote(f"{self.daemon_name}-compose-{app}")
        state = self.server.run(f"docker inspect -f '{{{{.State.Status}}}}' {container}", check=False).stdout.strip()
        if state in ("running", "created", ""):
            return None
        logs = self.server.run(f"docker logs --tail 20 {container} 2>&1", check=False).stdout
        return f"its compose container {state}; its last lines:\n{logs}"


def project_tar() -> bytes:
    """The example app's folder: ``project/`` with the webapp's folder as ``webapp/``."""
    return tar_of({**{path.name: path for path in sorted(PROJECT.iterdir())}, "webapp": WEBAPP})


def provision(
    fleet: Fleet, spec: OsSpec, variant: str = "dind", networks: dict[str, Network] | None = None
) -> DeployDaemon:
    """Start the server of ``spec`` on a private network of ``fleet`` (or ``networks``) and bootstrap it."""
    return provision_world(DeployDaemon, fleet, spec, variant, networks)


def apply(world: DeployDaemon) -> list[Step]:
    """Bootstrap ``world``'s server: its engine, deployd's image, deployd; the steps."""
    server = world.server
    first = len(world.steps)
    world.install(SCRIPTS)
    try:
        world.timed("engine", SCRIPTS.run(server, "docker.sh"))
    except ProvisioningFailed as failed:  # the OS's Docker may be one that cannot run on this engine's cgroups
        reason = inner_engine_unsupported(server) if server.docker == "bare" else None
        if reason:
            message = f"the engine docker.sh installed on VPS {server.name} did not start: {reason}"
            raise InnerEngineUnsupported(message, reason) from failed
        raise

    env = {"DEPLOYD_IMAGE": world.daemon_image}
    if server.docker == "socket":
        if server.docker_socket is None:
            raise HarnessError(f"VPS {server.name} has docker='socket' but no socket served")
        env.update(
            DEPLOYD_NAME=world.daemon_name,
            DEPLOYD_PUBLISH=f"127.0.0.1::{DAEMON_PORT}",
            DEPLOYD_DATA_SOURCE=f"{world.daemon_name}-data",
            DEPLOYD_SOCKET_SOURCE=str(server.docker_socket),
        )
    elif world.daemon is not None:
        world.timed("load deployd", load_daemon_image(server, world.daemon))
    world.timed("deployd", SCRIPTS.run(server, "deployd.sh", env, {"token": world.token + "\n"}))

    name = shlex.quote(world.daemon_name)
    world.cert = server.run(f"docker exec {name} cat {DATA}/tls/cert.pem").stdout
    world._connect()
    return world.steps[first:]


def reach(server: Vps, container: str, port: int) -> int:
    """The port on 127.0.0.1 here that reaches ``container``'s published ``port``: the engine's host port
    itself on the host's engine (socket), else a forward through ``server`` to it."""
    said = server.run(f"docker port {shlex.quote(container)} {port}/tcp", check=False)
    published = said.stdout.split()
    if not said.ok or not published:
        raise DeployFailed(
            f"container {container} on VPS {server.name} publishes no port for {port}/tcp: "
            f"{(said.stderr or said.stdout).strip() or 'docker port said nothing'}"
        )
    host_port = int(published[0].rsplit(":", 1)[1])
    return host_port if server.docker == "socket" else server.forward(host_port)


def load_daemon_image(server: Vps, daemon: InnerImage) -> Step:
    """Ship deployd's image to the server's engine as ``deployd:1``, as a deploy tool does without a registry:
    ``docker save | ssh server docker load``, skipped when that build is there; the step.

    The build is known by its recipe-hash label, which a load keeps on every
    engine; its ID does not survive a load into a containerd image store.
    """
    started = time.monotonic()
    wanted = daemon.tag.rsplit("-", 1)[1]
    label = f"{{{{index .Config.Labels {json.dumps(KEY_LABEL)}}}}}"
    have = server.run(f"docker image inspect -f '{label}' {DAEMON_IMAGE}", check=False).stdout.strip()
    if have == wanted:
        said = f"ok: {DAEMON_IMAGE} is {daemon.tag}"
        return Step(server.name, "load deployd image", (), time.monotonic() - started, said)
    server.load_image(daemon.tag)
    try:
        server.run(f"docker tag {daemon.tag} {DAEMON_IMAGE} && docker rmi {daemon.tag} >/dev/null")
    except CommandFailed as e:
        raise HarnessError(f"deployd's image did not load on VPS {server.name}: {e}") from e
    loaded = f"{DAEMON_IMAGE} loaded ({daemon.tag})"
    return Step(server.name, "load deployd image", (loaded,), time.monotonic() - started, f"changed: {loaded}")
