"""The jenkins-slave0 flow: a bastion in front of a Docker VM, a registry, an
nginx TLS proxy to the Docker API, and a Jenkins agent reached over SSH hops.

Four VPSes of one OS on two networks, as the write-up draws them: laptop,
outsider and host2 on ``public``; host2 and the VM on ``private``, the
VM's host-only network, which only host2 reaches: the VM is on no other
network (not the engine's default bridge: ``default_bridge=False``) and has
no gateway (``vm-ready.sh``, after provisioning and each copy's boot), so it
answers no one else, whatever the engine's own isolation between networks does::

         public                          |            private (host-only)
    laptop (myuser) --ssh--> host2 / docker.my.domain --ssh--> vm-with-docker (myuser)
                      |        forced commands, syslog |  \\--ssh :22000--> jenkins-slave0 (jenkins)
                      \\--https :443 (nginx, allow laptop)---> vm-with-docker:2375 (Docker API)
    outsider: on no allow-list           |             vm-with-docker:5000 (registry)

``provision(fleet, spec, variant)`` starts them and applies ``scripts/``
(with ``templates/<variant>/``) over SSH; the result is a
:class:`JenkinsSlave0`. ``as_written`` is the 2015 write-up's setup as it
stands; ``hardened`` (the default) the same topology done right.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from docker.models.networks import Network

from harness import CommandResult, Fleet, Images, InnerImage, KeyPair, OsSpec, Vps, VpsWant
from harness.flows.world import (
    REGISTRY_RECIPE,
    ProvisioningFailed,
    Scripts,
    Step,
    World,
    at_once,
    key_only,
    provision_world,
)

FOLDER = Path(__file__).parent
#: The agent image's recipe (sshd, a JRE, user jenkins).
AGENT_RECIPE = FOLDER / "agent"
SCRIPTS = Scripts("jenkins-slave0", FOLDER)
#: The names of the hosts on the private network.
BASTION_NAMES = ("host2", "docker.my.domain")
VM_NAME = "vm-with-docker"
#: The ports the VM publishes: SSH of the agent, the registry, the Docker API.
AGENT_PORT, REGISTRY_PORT, API_PORT = 22000, 5000, 2375
ROLES = {
    "laptop": "the operator's workstation: user myuser (RSA key ~/.ssh/id_rsa), the docker CLI",
    "host2": "the bastion (host2, docker.my.domain): hop accounts docker and jenkins_slave0, nginx on 443",
    "vm": f"VM-with-docker ({VM_NAME}): its own engine (also on :{API_PORT}), registry :{REGISTRY_PORT}, "
    f"jenkins-slave0 :{AGENT_PORT}",
    "outsider": "a machine on the network that is on no allow-list",
}


@dataclass
class JenkinsSlave0(World):
    """The provisioned world. Hosts are :class:`~harness.vps.Vps` objects, as ``vps`` is."""

    FLOW = "jenkins-slave0"
    ROLES = ROLES
    READY = (("vm", "vm-ready.sh"),)
    NETWORKS = ("public", "private")
    # laptop's and outsider's packets reach the VM with their own addresses, to which the VM (no
    # gateway) has no route: not this machine's, on the VM's own network, as a masquerade would make them.
    UNMASQUERADED = ("public",)
    # host2's nginx resolves its upstream, vm-with-docker, when it starts: on a network
    # that has no such name yet, nginx fails at boot (as it would on real servers).
    BOOTS_FIRST = ("vm",)
    SCRIPTS = SCRIPTS

    #: The proxy's certificate (PEM text): what ``curl --cacert`` and the docker CLI trust.
    cert: str = ""
    #: As written, on an nginx that refuses the write-up's site: the failed step's message (else empty).
    proxy_refused: str = ""
    #: The Jenkins master's key for agents (the Docker plugin template's credentials).
    jenkins_key: KeyPair = field(default_factory=lambda: KeyPair.generate("jenkins@master"))

    @classmethod
    def wanted(cls, fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network]) -> dict[str, VpsWant]:
        public, private = [networks["public"]], [networks["private"]]
        return {
            # laptop and outsider on the public network alone, not on the engine's bridge (see UNMASQUERADED).
            "laptop": VpsWant(spec, name="laptop", networks=public, default_bridge=False),
            "host2": VpsWant(spec, name="host2", networks=public + private, aliases=BASTION_NAMES[1:]),
            # On its host-only network alone: not on the engine's bridge, where the other VPSes are.
            "vm": VpsWant(
                spec,
                name="vm",
                networks=private,
                aliases=(VM_NAME,),
                docker="dind",
                inner=inner_images(fleet.images, spec),
                default_bridge=False,
                publish_ssh=False,
            ),
            "outsider": VpsWant(spec, name="outsider", networks=public, default_bridge=False),
        }

    @property
    def laptop(self) -> Vps:
        return self.hosts["laptop"]

    @property
    def host2(self) -> Vps:
        return self.hosts["host2"]

    @property
    def vm(self) -> Vps:
        return self.hosts["vm"]

    @property
    def outsider(self) -> Vps:
        return self.hosts["outsider"]

    @property
    def public(self) -> Network:
        """laptop's, outsider's and host2's network."""
        return self.networks["public"]

    @property
    def private(self) -> Network:
        """The VM's host-only network: host2 and the VM."""
        return self.networks["private"]

    def laptop_ssh(self, destination: str, command: str, options: str = "", check: bool = True) -> CommandResult:
        """Run OpenSSH on laptop as myuser: ``ssh -o BatchMode=yes OPTIONS DESTINATION -- COMMAND``.

        OpenSSH reads options after the destination too, so a command that begins with ``-o`` would be
        laptop's own option; the ``--`` after the destination ends them on every OpenSSH (a ``--`` before
        it does not, before 8.x), and ``COMMAND`` goes to host2 as it is.
        """
        line = f"ssh -o BatchMode=yes {options} {shlex.quote(destination)} -- {shlex.quote(command)}"
        return self.laptop.run(line, user="myuser", check=check, timeout=120)

    def apply(self) -> list[Step]:
        """Run every provisioning step again (they are idempotent); the steps, to see what changed."""
        return apply(self)


def inner_images(images: Images, spec: OsSpec) -> tuple[InnerImage, ...]:
    """The images VM-with-docker's engine holds from the start: the registry:2 look-alike and the agent."""
    return (images.inner(spec, "registry:2", REGISTRY_RECIPE), images.inner(spec, "jenkins-slave0", AGENT_RECIPE))


def provision(
    fleet: Fleet, spec: OsSpec, variant: str = "hardened", networks: dict[str, Network] | None = None
) -> JenkinsSlave0:
    """Start laptop, host2, the VM and an outsider of ``spec`` on the write-up's two networks and provision them."""
    return provision_world(JenkinsSlave0, fleet, spec, variant, networks)


def proxy(world: JenkinsSlave0, env: dict[str, str]) -> None:
    """host2's proxy. As written, an nginx that refuses the write-up's `ssl on;` (1.25.1 and later)
    fails this step alone: the operator goes on with the rest of the write-up, and ``proxy_refused``
    says why; the certificate is made before nginx reads the site."""
    try:
        world.timed("host2 proxy", SCRIPTS.run(world.host2, "host2-proxy.sh", env))
    except ProvisioningFailed as e:
        if world.variant != "as_written" or 'unknown directive "ssl"' not in str(e):
            raise
        world.proxy_refused = str(e)


def apply(world: JenkinsSlave0) -> list[Step]:
    """Apply the flow's scripts to ``world``'s hosts, in the order their inputs need; the steps."""
    laptop, host2, vm = world.laptop, world.host2, world.vm
    env = {"VARIANT": world.variant}
    first = len(world.steps)
    world.install(SCRIPTS, laptop, host2, vm)

    at_once(
        [
            lambda: world.timed("laptop", SCRIPTS.run(laptop, "laptop.sh", env)),
            lambda: world.timed("host2 accounts", SCRIPTS.run(host2, "host2-accounts.sh", env)),
        ]
    )
    key_type = "rsa" if world.variant == "as_written" else "ed25519"
    myuser_pub = laptop.read_text("/home/myuser/.ssh/id_rsa.pub")
    docker_pub = host2.read_text(f"/home/docker/.ssh/id_{key_type}.pub")
    slave0_pub = host2.read_text(f"/home/jenkins_slave0/.ssh/id_{key_type}.pub")
    laptop_ip = laptop.ip_on(world.public)
    vm_ip = vm.ip_on(world.private)

    at_once(
        [
            lambda: world.timed(
                "vm",
                SCRIPTS.run(
                    vm,
                    "vm.sh",
                    {**env, "VM_IP": vm_ip},
                    {"docker.pub": docker_pub, "agent_keys": f"{world.jenkins_key.public}\n{slave0_pub}"},
                ),
            ),
            lambda: proxy(world, {**env, "LAPTOP_IP": laptop_ip}),
        ]
    )
    agent_key = key_only(vm.run("docker exec jenkins-slave0 cat /etc/ssh/ssh_host_ed25519_key.pub").stdout)
    vm_key = key_only(vm.host_key)
    world.timed(
        "host2 hops",
        SCRIPTS.run(
            host2,
            "host2-hops.sh",
            env,
            {
                "myuser.pub": myuser_pub,
                "vm_known_hosts": f"{VM_NAME},{vm_ip} {vm_key}\n",
                "agent_known_hosts": f"[{VM_NAME}]:{AGENT_PORT},[{vm_ip}]:{AGENT_PORT} {agent_key}\n",
            },
        ),
    )
    world.cert = host2.read_text(f"{SCRIPTS.remote}/outputs/docker.my.domain.crt")
    host2_key = key_only(host2.host_key)
    host2_ip = host2.ip_on(world.public)
    world.timed(
        "laptop trust",
        SCRIPTS.run(
            laptop,
            "laptop.sh",
            env,
            {"known_hosts": f"{','.join(BASTION_NAMES)},{host2_ip} {host2_key}\n", "ca.pem": world.cert},
        ),
    )
    return world.steps[first:]
