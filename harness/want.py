"""A VPS as wanted: one value, checked once, that every layer passes on.

The fixture (``vps_factory``), the fleet (:meth:`Fleet.vps <harness.fleet.Fleet.vps>`,
``start``, ``restore``, ``provisioned``), the launch and :class:`~harness.vps.Vps`
take a :class:`VpsWant`; the words are the marker's and the CLI's (``os``,
``docker``), one vocabulary from a test down to the container.

>>> want = VpsWant("debian:12", name="web", init="sshd")
>>> (str(want.os), want.name, want.init, want.docker)
('debian:12', 'web', 'sshd', 'none')
>>> VpsWant.of(want, nmae="db")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
harness.errors.UsageError: a VPS has no 'nmae': it is given os, name, init, docker, networks, aliases, ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import UsageError
from harness.spec import OsSpec, parse_spec

if TYPE_CHECKING:
    from docker.models.networks import Network

    from harness.images import InnerImage

Init = Literal["systemd", "sshd"]
#: PID 1 of a VPS: systemd (a real server's), or sshd alone (:data:`harness.launch.INIT_COMMANDS`).
INITS = ("systemd", "sshd")
#: Docker for the VPS: none, its own engine under systemd, room for an engine
#: its provisioning installs (bare: no Docker in the image), or the host's socket.
DockerMode = Literal["none", "dind", "bare", "socket"]
DOCKER_MODES = ("none", "dind", "bare", "socket")
#: The modes whose VPS runs an engine of its own (DinD privileges; its stores on volumes, ENGINE_STORES).
OWN_ENGINE = ("dind", "bare")


def check_modes(init: str, docker: str) -> None:
    """Refuse an init or Docker mode that cannot work, before anything is built or started."""
    if init not in INITS:
        raise ValueError(f"init={init!r} is not one of {', '.join(INITS)}")
    if docker not in DOCKER_MODES:
        raise ValueError(f"docker={docker!r} is not one of {', '.join(DOCKER_MODES)}")
    if docker in OWN_ENGINE and init != "systemd":
        raise ValueError(f"docker={docker!r} runs docker.service under systemd; init={init!r} has none")


@dataclass(frozen=True)
class VpsWant:
    """What a VPS is to be: its OS, name, init, Docker mode, and where it sits.

    ``name``: its name and host name ("" lets the fleet number it: vps1, vps2…).
    ``networks``: the private networks it is on besides the engine's default
    bridge (``default_bridge=False``: on them alone); ``aliases``: more names
    it has there; ``addresses``: its IPv4 address on a network (by name) of
    ``networks``. ``publish_ssh``: its sshd has a port on 127.0.0.1.
    ``inner``: images its own engine (``docker="dind"``) has from the start,
    besides its base. Sequences are kept as tuples; an OS may be given as text.
    """

    os: OsSpec
    name: str = ""
    init: Init = "systemd"
    docker: DockerMode = "none"
    networks: Sequence[Network] = ()
    aliases: Sequence[str] = ()
    addresses: Mapping[str, str] = field(default_factory=dict, hash=False)
    publish_ssh: bool = True
    default_bridge: bool = True
    inner: Sequence[InnerImage] = ()

    def __post_init__(self) -> None:
        if isinstance(self.os, str):
            object.__setattr__(self, "os", parse_spec(self.os))
        if not isinstance(self.os, OsSpec):
            raise UsageError(f"a VPS's os is an OsSpec or its text (debian:12), not {type(self.os).__name__}")
        for name in ("networks", "aliases", "inner"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "addresses", MappingProxyType(dict(self.addresses)))
        check_modes(self.init, self.docker)
        if self.inner and self.docker != "dind":
            raise ValueError(f"inner images are seeded in a DinD VPS's engine; docker={self.docker!r} has none")
        who = f"VPS {self.name}" if self.name else "a VPS"
        if not self.default_bridge and not self.networks:
            raise UsageError(
                f"{who} is to be off the engine's default bridge (default_bridge=False) but has no network to be "
                "on: give networks=[...]"
            )
        elsewhere = sorted(set(self.addresses) - {str(network.name) for network in self.networks})
        if elsewhere:
            raise UsageError(f"{who} is given an address on {', '.join(elsewhere)}, a network it is not on")

    @classmethod
    def of(cls, wanted: VpsWant | OsSpec | str, **fields: Any) -> VpsWant:
        """``wanted`` with ``fields`` changed, or a new want of that OS; a field it has not is refused by name."""
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise UsageError(f"a VPS has no {', '.join(map(repr, unknown))}: it is given {', '.join(FIELDS)}")
        if isinstance(wanted, VpsWant):
            return dataclasses.replace(wanted, **fields) if fields else wanted
        return cls(wanted, **fields)  # type: ignore[arg-type]


#: What a :class:`VpsWant` has, in order.
FIELDS = tuple(f.name for f in dataclasses.fields(VpsWant))
#: What the image decides: a snapshot's copy is what the snapshot was.
FIXED_BY_IMAGE = ("os", "init", "docker", "inner")
#: Where a VPS sits: what a copy of a snapshot may be given.
PLACEMENT = ("networks", "aliases", "addresses", "publish_ssh", "default_bridge")
