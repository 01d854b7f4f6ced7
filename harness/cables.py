"""A container's cables: the networks it is on, its address on each, and a cable pulled and plugged back.

Its input is narrow: the container, the names it answers to on its
networks, and the networks it was given. Every address is read from the
engine when asked (a restart or a reconnect may change it).
"""

from __future__ import annotations

import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from harness.engine import DEFAULT_BRIDGE, bridge_address
from harness.errors import UsageError


class Cables:
    """The cables of ``container`` (server ``name``, also called ``aliases`` on its networks)."""

    def __init__(self, container: Container, name: str, aliases: tuple[str, ...], networks: list[Network]) -> None:
        self.container = container
        self.name = name
        self.aliases = aliases
        #: The networks it was given, first one first (its :meth:`ip`).
        self.networks = networks
        #: The addresses it had on the networks :meth:`pull` cut it off, by network name.
        self._pulled: dict[str, str] = {}

    def _endpoints(self) -> dict[str, dict[str, str]]:
        self.container.reload()
        return dict(self.container.attrs["NetworkSettings"]["Networks"])

    @property
    def on_default_bridge(self) -> bool:
        """Whether it is on the engine's default bridge."""
        return DEFAULT_BRIDGE in self._endpoints()

    def ip_on(self, network: Network) -> str:
        """Its address on ``network`` (what an IP allow-list there sees)."""
        found = self._endpoints().get(str(network.name))
        if not found or not found.get("IPAddress"):
            raise UsageError(f"VPS {self.name} is not on network {network.name}: connect it with vps.connect(network)")
        return str(found["IPAddress"])

    def ip(self) -> str:
        """Its address on the first network it was given, else on the engine's default bridge."""
        return self.ip_on(self.networks[0]) if self.networks else self.bridge_ip()

    def bridge_ip(self) -> str:
        """This machine's way in: the address on the engine's default bridge or, off it, on its first network."""
        return bridge_address(self.container, [str(network.name) for network in self.networks])

    def shared_ip(self, other: Cables) -> str:
        """``other``'s address on a private network this one is also on."""
        mine = self._endpoints()
        for network_name, endpoint in other._endpoints().items():
            if network_name in mine and network_name != DEFAULT_BRIDGE and endpoint.get("IPAddress"):
                return str(endpoint["IPAddress"])
        raise UsageError(f"VPS {self.name} and VPS {other.name} share no private network; give both the same one")

    def pull(self, network: Network) -> None:
        """Pull its cable to ``network``, keeping the address it had there for :meth:`plug`."""
        self._pulled[str(network.name)] = self.ip_on(network)
        network.disconnect(self.container)
        self.container.reload()

    def plug(self, network: Network) -> None:
        """Plug it into ``network``, with its names, and the address it had there before :meth:`pull` when the
        network's subnet was given; on a network whose subnet the engine chose, the engine picks."""
        address = self._pulled.pop(str(network.name), None)
        if network.name == DEFAULT_BRIDGE:
            address = None  # the engine's bridge takes no address of a user's choosing
        aliases = [self.name, *self.aliases]
        try:
            network.connect(self.container, aliases=aliases, ipv4_address=address)
        except docker.errors.APIError as e:
            if address is None or "user configured subnets" not in str(e):
                raise
            network.connect(self.container, aliases=aliases)  # the engine chose its subnet, and chooses again
        self.container.reload()
