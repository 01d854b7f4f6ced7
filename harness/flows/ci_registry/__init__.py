"""The CI-registry flow: a build host builds a web application, pushes it to a
private registry, and production pulls it and swaps its container.

Three VPSes of one OS on one private network, each with its own engine::

    jenkins (build host; user jenkins, an SSH agent of a Jenkins master)
       |  docker build FROM the host's base, docker push
       v
    registry.local:5000 (registry:2 on the registry host's engine, plain HTTP)
       ^  docker pull
       |
    production (user deploy): webapp-deploy, the key's forced command, swaps the webapp on :8080
       ^-- ssh deploy@production deploy IMAGE, from jenkins

The engines of jenkins and production name the registry in daemon.json's
``insecure-registries`` (``scripts/engine.sh``); the registry host's own does
not, and is the test's example of an engine without it. ``pipeline/`` holds the
jobs (build, deploy, and ship without a registry), run as jenkins over SSH
with the master's key, as a Jenkins SSH agent runs them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from docker.models.networks import Network

from harness import CommandFailed, CommandResult, Fleet, KeyPair, OsSpec, Vps, VpsWant
from harness.flows.world import REGISTRY_RECIPE, Scripts, Step, World, at_once, key_only, provision_world

FOLDER = Path(__file__).parent
SCRIPTS = Scripts("ci-registry", FOLDER)
#: The one setup this flow has.
VARIANTS = ("hardened",)
REGISTRY_NAME = "registry.local"
REGISTRY = f"{REGISTRY_NAME}:5000"
#: Where production serves the webapp.
WEBAPP_PORT = 8080
ROLES = {
    "registry": f"{REGISTRY}: registry:2 on this host's engine, plain HTTP, data in /srv/registry",
    "jenkins": "the build host: user jenkins (the Jenkins master's SSH agent), its own engine",
    "production": f"runs the webapp on :{WEBAPP_PORT}; user deploy, whose key runs webapp-deploy only",
}


@dataclass
class BuildHost(World):
    """A world with a build host ``jenkins`` whose jenkins user the Jenkins master reaches by key."""

    VARIANTS = VARIANTS
    READY = (("registry", "registry-ready.sh"),)
    SCRIPTS = SCRIPTS

    #: The Jenkins master's key: jenkins@jenkins authorizes it.
    master_key: KeyPair = field(default_factory=lambda: KeyPair.generate("jenkins@master"))

    @property
    def registry(self) -> Vps:
        return self.hosts["registry"]

    @property
    def jenkins(self) -> Vps:
        return self.hosts["jenkins"]

    def pipeline(
        self,
        script: str,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str = "",
        secret: tuple[str, ...] = (),
        check: bool = True,
        timeout: float = 300,
    ) -> CommandResult:
        """Run the job ``pipeline/<script> ARGS`` on the build host as jenkins, logged in over SSH
        with the master's key as a Jenkins SSH agent is; ``stdin`` is its input (a password),
        ``secret`` what the result and the failure report must never show. Raises
        :class:`CommandFailed` if it fails."""
        variables = {"REGISTRY": REGISTRY, "BASE": self.os.registry_ref, **(env or {})}
        exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
        command = f"{exports} sh {SCRIPTS.remote}/pipeline/{script} " + " ".join(shlex.quote(a) for a in args)
        self.jenkins.hide(*secret)
        session = self.jenkins.connections.login("jenkins", self.master_key)  # its route: a bastion, an engine host
        try:
            result = session.run(command, timeout=timeout, stdin=[stdin.encode()] if stdin else ())
        finally:
            session.close()
        result = self.jenkins.record(result)
        if check and not result.ok:
            raise CommandFailed(result, "VPS jenkins, as jenkins")
        return result


@dataclass
class CiRegistry(BuildHost):
    """The provisioned world. Hosts are :class:`~harness.vps.Vps` objects, as ``vps`` is."""

    FLOW = "ci-registry"
    ROLES = ROLES

    @classmethod
    def wanted(cls, fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network]) -> dict[str, VpsWant]:
        wants = engines(fleet, spec, networks["private"])
        return {**wants, "production": VpsWant.of(wants["jenkins"], name="production")}

    @property
    def production(self) -> Vps:
        return self.hosts["production"]

    def page(self) -> str:
        """What production's webapp answers on :8080."""
        return self.production.run(f"curl -fsS --max-time 5 http://localhost:{WEBAPP_PORT}/").stdout

    def apply(self) -> list[Step]:
        """Run every provisioning step again (they are idempotent); the steps, to see what changed."""
        return apply(self)


def engines(fleet: Fleet, spec: OsSpec, network: Network) -> dict[str, VpsWant]:
    """The registry (registry:2 in its engine from the start) and the build host jenkins, each with an engine."""
    engine = VpsWant(spec, networks=[network], docker="dind")
    registry = (fleet.images.inner(spec, "registry:2", REGISTRY_RECIPE),)
    return {
        "registry": VpsWant.of(engine, name="registry", aliases=[REGISTRY_NAME], inner=registry),
        "jenkins": VpsWant.of(engine, name="jenkins"),
    }


def provision(
    fleet: Fleet, spec: OsSpec, variant: str = "hardened", networks: dict[str, Network] | None = None
) -> CiRegistry:
    """Start the three VPSes of ``spec`` on a private network of ``fleet`` (or ``networks``) and provision them."""
    return provision_world(CiRegistry, fleet, spec, variant, networks)


def apply(world: CiRegistry) -> list[Step]:
    """Apply the flow's scripts to ``world``'s hosts, in the order their inputs need; the steps."""
    registry, jenkins, production = world.registry, world.jenkins, world.production
    env = {"REGISTRY": REGISTRY}
    first = len(world.steps)
    world.install(SCRIPTS)

    master = {"master.pub": world.master_key.public + "\n"}
    at_once(
        [
            lambda: world.timed("registry", SCRIPTS.run(registry, "registry.sh")),
            lambda: [
                world.timed("jenkins engine", SCRIPTS.run(jenkins, "engine.sh", env)),
                world.timed("jenkins", SCRIPTS.run(jenkins, "jenkins.sh", env, master)),
            ],
            lambda: world.timed("production engine", SCRIPTS.run(production, "engine.sh", env)),
        ]
    )
    jenkins_pub = jenkins.read_text("/home/jenkins/.ssh/id_ed25519.pub")
    world.timed("production", SCRIPTS.run(production, "production.sh", env, {"jenkins.pub": jenkins_pub}))
    known = f"production,{production.ip_on(world.network)} {key_only(production.host_key)}\n"
    world.timed("jenkins trust", SCRIPTS.run(jenkins, "jenkins.sh", env, {**master, "known_hosts": known}))
    return world.steps[first:]
