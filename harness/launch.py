"""Launching a VPS container: its run options, staged keys, Docker mode and
privileges. Everything made here is labelled, and removed again when the
container cannot start.

>>> run_options("sshd")["command"]
['/usr/local/sbin/vps-sshd']
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.volumes import Volume
from docker.types import Mount

from harness import cache, engine, labels, privilege, remote
from harness.errors import HarnessError
from harness.identity import Identity
from harness.images import VpsImage
from harness.spec import parse_spec
from harness.ssh import KeyPair
from harness.tunnel import LabellingSocket
from harness.want import DOCKER_MODES, OWN_ENGINE, DockerMode, Init, VpsWant

__all__ = [
    "DOCKER_MODES",
    "ENGINE_STORES",
    "HOST_KEY_LABEL",
    "INIT_COMMANDS",
    "OWN_ENGINE",
    "DockerMode",
    "Init",
    "Launched",
    "launch",
    "run_options",
]

#: PID 1 of each init mode; the image's own CMD is systemd. ``vps-init``
#: readies /sys/fs/cgroup for the engine's cgroup version, then execs systemd.
INIT_COMMANDS: dict[str, list[str]] = {
    "systemd": ["/usr/local/sbin/vps-init"],
    "sshd": ["/usr/local/sbin/vps-sshd"],
}
#: Where an engine of a VPS's own keeps its store, each on a volume (``<container>-<key>``), as a real
#: server's disk: the overlay mounts of an engine fail on the container's own overlay ("invalid
#: argument"). /var/lib/docker holds Docker's graph driver store; /var/lib/containerd holds containerd's
#: image store, which Docker from 29 picks on a fresh install (and 24 on with the
#: ``containerd-snapshotter`` feature): measured with Docker 29.1 in an ubuntu:24.04 VPS.
ENGINE_STORES = {"docker": "/var/lib/docker", "containerd": "/var/lib/containerd"}
#: Label holding the host's public key, so any client can pin it.
HOST_KEY_LABEL = f"{labels.PREFIX}.host-key"
#: Where a VPS sees the keys the harness staged for it (read-only);
#: ``vps-sshd-keys`` installs them, owned by root, before sshd starts.
SECRETS_MOUNT = "/run/vps-harness"
#: On an engine elsewhere, each staged file travels in the container's create request, as a variable of
#: its environment, and :data:`UNPACK` writes it where the bind mount would show it (its name there first).
CARRIED = {
    "ssh_host_ed25519_key": "VPS_HARNESS_HOST_KEY",
    "ssh_host_ed25519_key.pub": "VPS_HARNESS_HOST_KEY_PUB",
    "authorized_keys": "VPS_HARNESS_AUTHORIZED_KEYS",
    "units": "VPS_HARNESS_UNITS",
    "apt-proxy.conf": "VPS_HARNESS_APT_PROXY",
}
#: Runs before PID 1 at every start of a VPS on an engine elsewhere (``sh -c UNPACK vps-harness INIT...``):
#: writes the carried files to /run/vps-harness (the tmpfs of this start) and the package cache's apt
#: setting to its place (or removes a stale one), drops the variables, and execs the init, so PID 1's
#: environment is the one a bind mount's VPS has.
UNPACK = "\n".join(
    [
        "set -eu",
        "(",
        "    umask 077",
        f"    mkdir -p {SECRETS_MOUNT}",
        *(
            f'    printf %s "${{{variable}-}}" >{SECRETS_MOUNT}/{name}'
            for name, variable in CARRIED.items()
            if name != "apt-proxy.conf"
        ),
        ")",
        'if [ -n "${VPS_HARNESS_APT_PROXY-}" ]; then',
        f'    printf %s "$VPS_HARNESS_APT_PROXY" >{cache.APT_CONF}',
        "else",
        f"    rm -f {cache.APT_CONF}",
        "fi",
        f"unset {' '.join(CARRIED.values())}",
        'exec "$@"',
    ]
)
#: What :func:`carry` puts before the init's command (``$0`` names the unpacking in ``ps``).
_UNPACKING = ["/bin/sh", "-c", UNPACK, "vps-harness"]


def run_options(init: Init, cgroup_version: int = 1, all_caps_are_its_own: bool = False) -> dict[str, Any]:
    """docker-py ``containers.create`` options for a VPS with ``init`` as PID 1,
    on an engine whose containers run on cgroup ``cgroup_version`` and whose
    ``--cap-add ALL`` is the capabilities it holds (``all_caps_are_its_own``:
    :attr:`EngineFacts.all_caps_are_its_own <harness.engine.EngineFacts.all_caps_are_its_own>`).

    systemd needs the capabilities of a real machine: every one the engine
    can give. Docker from 23 on gives exactly those for ALL (and refuses a
    ``--cap-drop`` of one it lacks: Docker 26 and 29 inside a VPS). Docker
    before 23 means every capability the kernel knows, and hosts like ours
    withhold CAP_SYS_RESOURCE (so ``--privileged`` fails too): there ALL
    comes without CAP_SYS_RESOURCE. It also needs no seccomp filter and no
    AppArmor profile (Docker's ``docker-default`` denies every ``mount``, and systemd mounts: its
    cgroups, the namespaces of units with ``PrivateTmp=``; moby
    profiles/apparmor/template.go), a writable cgroup tree, and /run on
    tmpfs. It also gets a terminal as its console, which systemd (and
    journald, configured by the image) writes to: ``docker logs`` becomes the
    serial console of a real server.

    The cgroup tree, per engine (both measured on this machine, the v2 one
    with ``scripts/cgroup2-engine`` and nsdelegate on):

    - cgroup v1: the host's tree bound read-write, in the host's cgroup
      namespace (the v1 default); systemd puts its units under
      ``/docker/<id>``.
    - cgroup v2: a private cgroup namespace (the v2 default, and kind's
      ``--cgroupns=private``) and no bind: Docker mounts the VPS's own subtree
      at /sys/fs/cgroup, read-only unless ``--privileged``, and ``vps-init``
      remounts it writable. Each VPS sees only its own subtree, so two VPSes
      share nothing and ``systemctl kill`` in one cannot reach the other. The
      other recipe in use (Molecule's ``cgroupns_mode: host``,
      kitchen-dokken's ``cgroupns_host``, with the rw bind) also boots, PID 1
      in ``/docker/<id>/init.scope``, but every VPS sees, and can write, every
      other VPS's cgroups and the host's; and a systemd that mounts cgroup2
      from the host's cgroup namespace resets the whole machine's cgroup2
      flags (nsdelegate; kernel/cgroup/cgroup.c). The binding of today's v1
      options on v2 is what fails there: with nsdelegate, systemd cannot
      create ``/init.scope`` at the host tree's root; without it, every VPS's
      systemd shares that root.

    Mounts are ``mounts``, as ``docker run --mount`` (and ``-v``) makes
    them: only in the container's host config. docker-py's ``volumes`` also
    declares each target a volume of the container's config, which ``docker
    commit`` keeps: a snapshot's copy would get an unlabelled anonymous
    volume wherever it lacks a mount its snapshot had.

    >>> run_options("systemd", cgroup_version=2)["cgroupns"]
    'private'
    >>> [m["Target"] for m in run_options("systemd", cgroup_version=1)["mounts"]]
    ['/sys/fs/cgroup']
    >>> run_options("systemd", all_caps_are_its_own=True).get("cap_drop")
    """
    if init not in INIT_COMMANDS:
        raise ValueError(f"init={init!r} is not one of {', '.join(INIT_COMMANDS)}")
    if cgroup_version not in (1, 2):
        raise ValueError(f"cgroup_version={cgroup_version!r} is not 1 or 2")
    options: dict[str, Any] = {
        "command": INIT_COMMANDS[init],
        "tmpfs": {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
    }
    if init == "systemd":
        options.update(
            cap_add=["ALL"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined", "label=disable"],
            tty=True,
            environment={"TERM": "dumb"},
        )
        if not all_caps_are_its_own:
            options["cap_drop"] = ["SYS_RESOURCE"]
        if cgroup_version == 1:
            options["mounts"] = [Mount("/sys/fs/cgroup", "/sys/fs/cgroup", type="bind")]
        else:
            options["cgroupns"] = "private"
    return options


#: Makes the machine's named systemd hierarchy and a cgroup in it that keeps it
#: alive unmounted (a v1 hierarchy with a child cgroup outlives its mounts).
#: Not ``vps-*``: vps-init's sweep leaves it.
_NAMED_HIERARCHY = (
    'd=$(mktemp -d) && mount -t cgroup -o none,name=systemd cgroup "$d" '
    '&& mkdir -p "$d/keeper.vps-harness" && umount "$d" && rmdir "$d"'
)
_named_made: set[str] = set()
_named_lock = threading.Lock()


def named_systemd_hierarchy(client: docker.DockerClient, image: str, owner_labels: dict[str, str]) -> None:
    """Make sure a cgroup-v2 engine's machine has a named ``systemd`` hierarchy (once per engine and process).

    vps-init gives a systemd older than 233 (Ubuntu 16.04's 229) a cgroup in
    it, and only the host's cgroup namespace may create a hierarchy
    (kernel/cgroup/cgroup-v1.c, ``cgroup1_root_to_use``: -EPERM from any
    other), which a VPS is never in on cgroup v2. So a short-lived, labelled
    container of ``image`` in the host's cgroup namespace mounts it, which
    creates it if it is not there. Where that fails (a kernel booted with
    ``cgroup_no_v1=named``), newer systemd needs nothing, and an older one's
    VPS stops with vps-init's error in its logs.
    """
    where = engine.engine_key(client)
    with _named_lock:
        if where in _named_made:
            return
        with contextlib.suppress(docker.errors.APIError, docker.errors.ContainerError):
            client.containers.run(
                image,
                ["sh", "-c", _NAMED_HIERARCHY],
                cgroupns="host",
                cap_add=["SYS_ADMIN"],
                security_opt=["apparmor=unconfined", "label=disable"],
                labels=owner_labels,
                remove=True,
            )
        _named_made.add(where)


def stage_secrets(directory: Path, host_key: KeyPair | None, client_key: KeyPair, units: tuple[str, ...] = ()) -> None:
    """Write a VPS's host key and who may log in, for a read-only bind mount.

    A bind mount costs nothing at start, where copying into a created
    container (``put_archive``) costs ~65 ms. The directory must outlive the
    container's restarts, so it goes when the VPS is removed. ``host_key``
    None: the VPS keeps the host key its image has (a snapshot's, pinned).
    """
    directory.mkdir(mode=0o700, parents=True)
    files = {
        "ssh_host_ed25519_key": (host_key.private if host_key else "", 0o600),
        "ssh_host_ed25519_key.pub": (host_key.public + "\n" if host_key else "", 0o644),
        "authorized_keys": (client_key.public + "\n", 0o644),
        # Enabled at every boot by the image's generator (docker.service for DinD).
        "units": ("".join(f"{unit}\n" for unit in units), 0o644),
    }
    for name, (text, mode) in files.items():
        path = directory / name
        path.touch(mode=mode)
        path.write_text(text)


def host_socket(reach: remote.Reach) -> str:
    """The host path of the engine's Unix socket, for ``docker="socket"``: a local engine's only.

    The socket is served by a :class:`~harness.tunnel.LabellingSocket` of this
    process, bind-mounted into the VPS: a file of this machine, which an
    engine elsewhere cannot mount.
    """
    if not reach.local:
        raise HarnessError(
            f"docker='socket' mounts this machine's engine socket into the VPS, and the engine at {reach.url} "
            "runs elsewhere, where no file of this machine can be mounted; use docker='dind' (an engine of the "
            "VPS's own) or a local engine"
        )
    return reach.url.removeprefix("unix://")


@dataclass(frozen=True)
class ContainerPlan:
    """The container a want becomes: its name, its owner's labels, the identity it lets in, and the
    package cache's URL for apt (``apt_proxy``; see :mod:`harness.cache`), if it uses one."""

    name: str
    owner_labels: dict[str, str] = field(hash=False)
    identity: Identity = field(hash=False)
    apt_proxy: str | None = None


@dataclass
class Launched:
    """A started VPS container and what it owns besides it."""

    container: Container
    #: The public host key it presents (pinned by every client).
    host_key: str
    #: The directory of the keys staged for it (none for a VPS another process launched).
    secrets: Path | None = None
    volumes: list[Volume] = field(default_factory=list)
    engine_socket: LabellingSocket | None = None


def launch(client: docker.DockerClient, image: VpsImage, want: VpsWant, plan: ContainerPlan) -> Launched:
    """Create and start the container of ``want`` as ``plan`` says; on any failure remove what was made.

    Its keys are staged in a directory of the plan's identity, made here, that
    lets its client key in. ``docker="dind"`` needs systemd: the VPS runs
    docker.service with /var/lib/docker and /var/lib/containerd on volumes of
    its own (never the container's overlay; see :data:`ENGINE_STORES`).
    ``"bare"`` is the same room for an engine, with none installed or started.
    ``default_bridge=False``: the VPS is on its networks only, not on the
    engine's default bridge, where every other VPS is and any reaches any.
    This machine reaches it at its address on its first network (or at its
    port published there). An image with a host key (a snapshot's) keeps it,
    and no new one is made.
    """
    name, init, docker_mode = want.name, want.init, want.docker
    container_name, owner_labels, identity, apt_proxy = plan.name, plan.owner_labels, plan.identity, plan.apt_proxy
    reach = remote.reach(client)
    socket_path = host_socket(reach) if docker_mode == "socket" else ""
    secrets = identity.staging(container_name)
    host_key = None if image.host_key else KeyPair.generate(f"root@{name}")
    public_host_key = image.host_key or (host_key.public if host_key else "")
    stage_secrets(secrets, host_key, identity.key, units=("docker.service",) if docker_mode == "dind" else ())
    facts = engine.facts(client)
    cgroup = facts.cgroup_version
    options = run_options(init, cgroup, facts.all_caps_are_its_own)
    if cgroup == 2 and init == "systemd":
        named_systemd_hierarchy(client, image.tag, owner_labels)
    mounts: list[Mount] = options.setdefault("mounts", [])
    vps_labels = {
        **owner_labels,
        labels.SPEC: str(image.spec),
        labels.NAME: name,
        labels.INIT: init,
        labels.DOCKER: docker_mode,
        labels.CGROUP: str(cgroup),
        labels.SECRETS: str(secrets),
        HOST_KEY_LABEL: public_host_key,
    }
    volumes: list[Volume] = []
    engine_socket: LabellingSocket | None = None
    try:
        volume_labels = {**owner_labels, labels.PARENT: container_name}
        if apt_proxy:
            (secrets / "apt-proxy.conf").write_text(cache.apt_conf(apt_proxy))
        if reach.local:
            mounts.append(Mount(SECRETS_MOUNT, str(secrets), type="bind", read_only=True))
            if apt_proxy:
                mounts.append(Mount(cache.APT_CONF, str(secrets / "apt-proxy.conf"), type="bind", read_only=True))
        else:  # no file of this machine there: the files go in with the container
            carry(options, secrets)
        if docker_mode in OWN_ENGINE:
            for suffix, target in ENGINE_STORES.items():
                volumes.append(client.volumes.create(f"{container_name}-{suffix}", labels=volume_labels))
                mounts.append(Mount(target, volumes[-1].name, type="volume"))
        if docker_mode == "socket":
            engine_socket = LabellingSocket(secrets / "docker.sock", socket_path, volume_labels)
            mounts.append(Mount("/run/docker.sock", str(engine_socket.path), type="bind"))
        create: dict[str, Any] = {
            "name": container_name,
            "hostname": name,
            "labels": vps_labels,
            "ports": {"22/tcp": (reach.publish_on, None)} if reach.publishes(want.publish_ssh) else {},
            "detach": True,
            **options,
        }
        container = _create_and_start(client, image.tag, create, want)
    except BaseException:
        for volume in volumes:
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
        if engine_socket is not None:
            engine_socket.close()
        shutil.rmtree(secrets, ignore_errors=True)
        raise
    return Launched(container, public_host_key, secrets, volumes, engine_socket)


def launched_before(container: Container) -> tuple[VpsWant, Launched]:
    """What a VPS container made earlier (by another process: ``vps-harness up``) was wanted as, from its labels;
    and what this process knows it owns: the container, with its host key."""
    found = container.labels
    want = VpsWant(
        parse_spec(found[labels.SPEC]),
        name=found[labels.NAME],
        init=found[labels.INIT],
        docker=found.get(labels.DOCKER, "none"),
        publish_ssh=bool((container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp")),
    )
    return want, Launched(container, found[HOST_KEY_LABEL])


def carry(options: dict[str, Any], staged: Path) -> None:
    """Make ``options`` (:func:`run_options`) carry the files staged in ``staged`` into the VPS, for an engine
    that cannot bind-mount them: each in a variable of its environment (:data:`CARRIED`), unpacked by
    :data:`UNPACK` before the init at every start.

    Nothing more is asked of the engine than the container's create: a volume of
    its own and ``put_archive`` into it before start cost 45-55 ms on Docker 20.10
    (measured here; its archive call re-executes dockerd to chroot) and 6 ms on
    Docker 26, on a 0.47 s start. The engine's API shows the variables, as it
    shows the host key's public half in a label: whoever may use the engine may
    also read the key in the running VPS (``docker exec``).
    """
    environment: dict[str, str] = {**options.get("environment", {})}
    for name, variable in CARRIED.items():
        path = staged / name
        environment[variable] = path.read_text() if path.is_file() else ""
    options["environment"] = environment
    options["command"] = [*_UNPACKING, *options["command"]]


def uncarried(config: dict[str, Any]) -> dict[str, Any]:
    """What ``docker commit`` of a container with ``config`` (its ``Config``) must be told so the image keeps
    none of what :func:`carry` gave it (whichever harness version made it): every carried variable it has,
    emptied (the engine's merge keeps any a commit does not name), and the init, not the unpacking, as its
    command (VPS images have no entrypoint for a new command to be handed to). Nothing for a container that
    carries nothing."""
    carried = sorted({entry.partition("=")[0] for entry in config.get("Env") or []} & set(CARRIED.values()))
    command = list(config.get("Cmd") or [])
    # Not UNPACK's text itself: an older harness's unpacking is the same shape.
    unpacks = command[:2] == _UNPACKING[:2] and command[3:4] == _UNPACKING[3:]
    conf: dict[str, Any] = {"Env": [f"{variable}=" for variable in carried]} if carried else {}
    if unpacks:
        conf["Cmd"] = command[len(_UNPACKING) :]
    return conf


def _create_and_start(client: docker.DockerClient, tag: str, create: dict[str, Any], want: VpsWant) -> Container:
    """Create and start the container of ``want``, removed again if it cannot start.

    With an engine of its own (DinD, bare), the privileges of :data:`privilege.OWN_ENGINE`.
    It is on ``want``'s networks, with its name and aliases there; without ``default_bridge``,
    it leaves the engine's default bridge before it starts.
    """
    if want.docker in OWN_ENGINE:
        for option in ("cap_add", "cap_drop", "security_opt", "privileged"):
            create.pop(option, None)
        create.update(privilege.OWN_ENGINE)
    container = privilege.create(client, tag, create)
    try:
        for network in want.networks:
            address = want.addresses.get(str(network.name))
            network.connect(container, aliases=[want.name, *want.aliases], ipv4_address=address)
        if not want.default_bridge:
            client.networks.get(engine.DEFAULT_BRIDGE).disconnect(container)
        container.start()
    except BaseException:
        container.remove(force=True, v=True)
        raise
    return container
