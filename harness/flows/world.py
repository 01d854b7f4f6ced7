"""What every flow shares: a world of VPSes on the private networks its
write-up draws, and the scripts that provision it, copied to each server and run there as root.

A script prints ``changed: WHAT`` for each thing it had to do and ``ok:
WHAT`` for each thing that was already so (``lib/common.sh``); a second
run changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import io
import shlex
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from docker.models.networks import Network

from harness import CommandResult, Fleet, HarnessError, OsSpec, Vps, VpsWant, at_once

FLOWS = Path(__file__).parent
#: The shell library every flow's scripts source.
LIB = FLOWS / "lib"
#: The registry:2 look-alike's recipe (see :meth:`harness.images.Images.inner`).
REGISTRY_RECIPE = FLOWS / "images" / "registry"
#: Where a flow's files go on a server.
REMOTE_ROOT = "/opt/vps-flows"
#: The variants of a flow: the write-up's setup as it stands, and done right.
VARIANTS = ("hardened", "as_written")
#: The metadata of a world's field that is this process's own (a folder here, a port forward),
#: which a snapshot does not keep: a copy makes its own (:meth:`World.restored`).
LOCAL = {"snapshot": False}


class UnknownVariant(HarnessError, ValueError):
    """A variant a flow does not have."""

    def __init__(self, value: str, variants: tuple[str, ...] = VARIANTS) -> None:
        super().__init__(f"variant {value!r} is not one of {', '.join(variants)}")


class ProvisioningFailed(HarnessError):
    """A flow's script failed on a server: which, where, and its last lines."""

    def __init__(self, host: str, script: str, result: CommandResult) -> None:
        self.host = host
        self.script = script
        self.result = result
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        super().__init__(
            f"{script} on {host} failed (exit {result.exit_status}); its last lines:\n" + "\n".join(output)
        )


@dataclass(frozen=True)
class Step:
    """One script's run on one server (or a step its driver takes there): what it changed, and how long it took."""

    host: str
    script: str
    changed: tuple[str, ...]
    seconds: float
    output: str


class Scripts:
    """A flow's folder (``scripts/``, ``templates/``, any other folder, and the shared ``lib/``) on its servers."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.remote = f"{REMOTE_ROOT}/{name}"

    def _archive(self) -> bytes:
        return tar_of({"lib": LIB, **{p.name: p for p in sorted(self.folder.iterdir()) if p.is_dir()}})

    def install(self, vps: Vps) -> None:
        """Copy the flow's files to ``vps`` (root's, under ``REMOTE_ROOT/<flow>``), replacing older ones."""
        remote = shlex.quote(self.remote)
        vps.run(
            f"rm -rf {remote}/lib {remote}/scripts {remote}/templates && mkdir -p {remote} "
            f"&& tar -x --no-same-owner -C {remote}",
            sudo=True,
            stdin=[self._archive()],
        )

    def run(
        self, vps: Vps, script: str, env: dict[str, str] | None = None, inputs: dict[str, str] | None = None
    ) -> Step:
        """Run ``scripts/<script>`` on ``vps`` as root, with ``env`` and ``inputs`` (files under ``inputs/``).

        The inputs are removed once the script has run, whatever it did: none
        is left at rest (nor in a snapshot), and no later script reads a stale one.
        Raises :class:`ProvisioningFailed` with its output when it fails.
        """
        paths = [f"{self.remote}/inputs/{name}" for name in inputs or {}]
        for path, text in zip(paths, (inputs or {}).values()):
            vps.put_text(text, path, mode=0o600)
        cleanup = f"; status=$?; rm -f {shlex.join(paths)}; exit $status" if paths else ""
        started = time.monotonic()
        result = vps.run(
            f"sh {shlex.quote(self.remote)}/scripts/{script}{cleanup}",
            sudo=True,
            env={"FLOW_DIR": self.remote, **(env or {})},
            check=False,
            timeout=900,
        )
        if not result.ok:
            raise ProvisioningFailed(vps.name, script, result)
        changed = tuple(line[9:] for line in result.stdout.splitlines() if line.startswith("changed: "))
        return Step(vps.name, script, changed, time.monotonic() - started, result.stdout)


def tar_of(members: dict[str, Path]) -> bytes:
    """A tar of each file or folder under its name, without ``__pycache__``."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, path in members.items():
            tar.add(path, name, filter=lambda info: None if "__pycache__" in info.name.split("/") else info)
    return data.getvalue()


def key_only(public_line: str) -> str:
    """``TYPE DATA`` of an OpenSSH public key line, without its comment (as known_hosts holds it)."""
    return " ".join(public_line.split()[:2])


def world_networks(fleet: Fleet, world: type[World], flow: str, given: dict[str, Network] | None) -> dict[str, Network]:
    """The networks of a ``world`` of ``flow``: ``given`` (a snapshot's slots), or new ones of ``fleet``."""
    if given is not None:
        if set(given) != set(world.NETWORKS):
            raise HarnessError(f"the {flow} world has networks {', '.join(world.NETWORKS)}, not {', '.join(given)}")
        return dict(given)
    return {
        name: fleet.network(f"{flow}-{name}", masquerade=name not in world.UNMASQUERADED) for name in world.NETWORKS
    }


@dataclass
class World:
    """VPSes of one OS on the private networks of their write-up, provisioned by a flow.

    ``NETWORKS``: the names of the world's networks, as its drawing has them
    (jenkins-slave0: ``public`` and the VM's host-only ``private``); each
    host is on those its role needs, and reaches the others' hosts only through
    a host on both.

    ``READY``: the scripts (host, script) that wait, after a boot, for what
    the world runs (see :mod:`harness.flows.snapshots`). ``BOOTS_FIRST``: the
    hosts whose names the others need at boot (an nginx upstream resolved at
    start): a copy starts their containers before the others'.
    ``NOT_COPIED``: the variants whose world a snapshot cannot carry (their
    containers live on the host's engine), provisioned each time.
    """

    #: The flow's name (``vps-harness world up NAME``), its variants, and what runs on each host.
    FLOW: ClassVar[str] = ""
    VARIANTS: ClassVar[tuple[str, ...]] = VARIANTS
    ROLES: ClassVar[dict[str, str]] = {}
    READY: ClassVar[tuple[tuple[str, str], ...]] = ()
    NETWORKS: ClassVar[tuple[str, ...]] = ("private",)
    #: Networks whose traffic elsewhere keeps its own source address (see :meth:`Fleet.network`).
    UNMASQUERADED: ClassVar[tuple[str, ...]] = ()
    BOOTS_FIRST: ClassVar[tuple[str, ...]] = ()
    NOT_COPIED: ClassVar[tuple[str, ...]] = ()
    SCRIPTS: ClassVar[Scripts | None] = None

    flow: str
    variant: str
    os: OsSpec
    #: The world's networks by their name in ``NETWORKS``.
    networks: dict[str, Network]
    hosts: dict[str, Vps]
    #: What runs on each host, for people (``world up`` prints it).
    roles: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    #: Seconds per phase of the provisioning (images, starts, each step).
    timings: dict[str, float] = field(default_factory=dict)
    #: The content key of the snapshots this world is a copy of (empty for a world provisioned here).
    snapshot_key: str = ""

    def __post_init__(self) -> None:
        for vps in self.hosts.values():
            vps.hide(*self.secrets())

    @property
    def network(self) -> Network:
        """The world's first network (its only one, where the write-up draws one)."""
        return self.networks[self.NETWORKS[0]]

    def addresses(self, vps: Vps) -> dict[str, str]:
        """``vps``'s address on each of the world's networks it is on, by the network's name in ``NETWORKS``."""
        vps.container.reload()
        attached = vps.container.attrs["NetworkSettings"]["Networks"]
        return {name: vps.ip_on(net) for name, net in self.networks.items() if net.name in attached}

    def secrets(self) -> tuple[str, ...]:
        """The world's secrets (passwords, tokens): shown as ``[secret]`` in every host's transcript."""
        return ()

    def describe(self) -> str:
        """Per host: a pasteable ssh line and what runs there."""
        nets = ", ".join(f"{name} {net.name}" for name, net in self.networks.items())
        lines = [f"{self.flow} world ({self.variant}) on {self.os}, networks {nets}:"]
        for name, vps in self.hosts.items():
            lines.append(f"  {name}: {self.roles.get(name, '')}")
            lines.append(f"    {vps.ssh_command()}")
        return "\n".join(lines)

    def install(self, scripts: Scripts, *hosts: Vps) -> None:
        """Copy ``scripts`` to ``hosts`` (default: every host) at once, timed as "install scripts"."""
        with self.timing("install scripts"):
            at_once([functools.partial(scripts.install, vps) for vps in hosts or self.hosts.values()])

    def timed(self, name: str, step: Step) -> Step:
        """Keep ``step`` in ``steps`` and add its seconds to ``timings[name]`` (from any thread)."""
        self.timings[name] = self.timings.get(name, 0.0) + step.seconds
        self.steps.append(step)
        return step

    @contextlib.contextmanager
    def timing(self, name: str) -> Iterator[None]:
        """Add the seconds of the ``with`` block to ``timings[name]``."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    def ready(self) -> None:
        """Wait, after its VPSes booted (a snapshot's copy), until what the world runs answers."""
        if self.SCRIPTS is None or not self.READY:
            return
        scripts = self.SCRIPTS
        with self.timing("ready"):
            env = {"VARIANT": self.variant}
            at_once([functools.partial(scripts.run, self.hosts[host], script, env) for host, script in self.READY])

    @classmethod
    def wanted(cls, fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network]) -> dict[str, VpsWant]:
        """The world's hosts as wanted, by name, on ``networks``; the images only they use (inner ones) made here."""
        raise NotImplementedError(f"{cls.__name__} names no hosts")

    def apply(self) -> list[Step]:
        """Run every provisioning step (again: they are idempotent); the steps, to see what changed."""
        raise NotImplementedError(f"{type(self).__name__} has no steps")

    def prepare(self, fleet: Fleet) -> None:
        """What a world just started needs before its steps run (a flow's own fields); nothing by default."""

    def restored(self, fleet: Fleet) -> None:
        """Make again, in this process, what a copy of the world needs once it is ready (its ``LOCAL``
        fields: a file of its certificate, a port forward); nothing unless a flow's world has such fields."""

    def close(self) -> None:
        """Let go of what the world holds in this process besides its VPSes (which its fleet removes)."""


W = TypeVar("W", bound=World)


def provision_world(
    cls: type[W], fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network] | None = None
) -> W:
    """Every flow's provisioning: start the hosts of a ``cls`` world of ``spec`` and apply its steps.

    On ``networks`` (a snapshot's slots) or new ones of ``fleet``; the hosts are
    :meth:`World.wanted`'s, their images resolved first (timed as "images"),
    then started at once ("starts"); :meth:`World.prepare`, then the world's
    own ``apply()``. A failure closes what the world holds here; its VPSes
    stay in the fleet for the failure's report.
    """
    if variant not in cls.VARIANTS:
        raise UnknownVariant(variant, cls.VARIANTS)
    timings: dict[str, float] = {}
    started = time.monotonic()
    nets = world_networks(fleet, cls, cls.FLOW, networks)
    networks_made = time.monotonic() - started
    started = time.monotonic()
    wants = cls.wanted(fleet, spec, variant, nets)
    for want in wants.values():
        fleet.image(want.os, want.docker, want.inner)  # resolved once for the fleet: timed here
    timings["images"] = time.monotonic() - started
    started = time.monotonic()
    hosts = dict(zip(wants, fleet.start(*wants.values())))
    timings["starts"] = networks_made + time.monotonic() - started  # as before: the networks and the starts
    world = cls(
        flow=cls.FLOW, variant=variant, os=spec, networks=nets, hosts=hosts, roles=dict(cls.ROLES), timings=timings
    )
    try:
        world.prepare(fleet)
        world.apply()
    except BaseException:
        world.close()
        raise
    return world
