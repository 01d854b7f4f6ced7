"""A VPS for suites written with testcontainers rather than pytest fixtures.

``VpsContainer`` is a testcontainers ``DockerContainer``: it starts and stops
the same way (``with``, ``start()``/``stop()``), and its accessors work
(``get_exposed_port(22)``, ``get_container_host_ip()``, ``get_logs()``,
``exec()``, ``get_wrapped_container()``). ``with`` gives the container, as
testcontainers' contract says; its ``.vps`` is the VPS itself, the same
:class:`~harness.vps.Vps` the ``vps`` fixture gives. It is made by the
harness (image built on first use, host key pinned, labelled with this
process), so if the process dies, the next session's sweep or
``vps-harness gc`` removes it and its key directory: no Ryuk container is
started, which also keeps it working where no registry answers.

>>> from harness.containers import VpsContainer
>>> with VpsContainer("ubuntu:16.04") as container:  # doctest: +SKIP
...     container.vps.run("systemctl is-system-running").stdout
'running\\n'
"""

from __future__ import annotations

try:
    from testcontainers.core.container import DockerContainer
except ImportError as e:  # an extra: pip install 'vps-harness[testcontainers]'
    raise ImportError(
        "harness.containers needs testcontainers, an extra of vps-harness: pip install 'vps-harness[testcontainers]'"
    ) from e

from harness import labels
from harness.engine import docker_client
from harness.errors import UsageError
from harness.fleet import Fleet
from harness.identity import Identity
from harness.images import Images
from harness.spec import OsSpec, parse_spec
from harness.vps import Vps
from harness.want import DockerMode, Init, VpsWant


class VpsContainer(DockerContainer):
    """A mock VPS of ``spec`` with testcontainers' container lifecycle and accessors.

    ``name``, ``init`` and ``docker`` mean what they mean to ``vps_factory``.
    testcontainers' ``with_*`` builders (ports, env, volumes, networks) do not
    apply: a VPS is reached over SSH, and gets networks with
    ``Fleet.network`` / ``vps_network`` as any VPS does.
    """

    def __init__(
        self,
        spec: str | OsSpec = "debian:12",
        *,
        name: str = "vps1",
        init: Init = "systemd",
        docker: DockerMode = "none",
    ) -> None:
        self.spec = parse_spec(spec) if isinstance(spec, str) else spec
        # The image is resolved (built on first use) at start; its tag is known then.
        super().__init__(f"vps-harness/vps:{self.spec.id}")
        #: The VPS it starts, checked now: a want that cannot work is refused before anything runs.
        self.want = VpsWant(self.spec, name=name, init=init, docker=docker)
        self.vps_name = name
        self._fleet: Fleet | None = None
        self._identity: Identity | None = None
        self._vps: Vps | None = None

    @property
    def vps(self) -> Vps:
        """The VPS, once started (in a ``with`` block, or after :meth:`start`)."""
        if self._vps is None:
            raise UsageError(
                f"VpsContainer {self.vps_name!r} ({self.spec}) is not started: use it in a with block or call start()"
            )
        return self._vps

    def start(self) -> VpsContainer:
        """Build the image if needed, start the VPS and wait until it is ready (no Ryuk)."""
        client = docker_client()
        self._identity = Identity.fresh()
        self._fleet = Fleet(client, Images(client), session=labels.new_session_id(), identity=self._identity)
        try:
            self._vps = self._fleet.vps(self.want)
        except BaseException:
            self.stop()
            raise
        self._container = self._vps.container
        self.image = str(self._vps.container.attrs["Config"]["Image"])
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Remove the VPS and everything it owns, by id; safe to call twice."""
        fleet, self._fleet = self._fleet, None
        try:
            if fleet is not None:
                try:
                    fleet.close()
                finally:
                    fleet.client.close()
        finally:
            if self._identity is not None:
                self._identity.remove()
                self._identity = None
            self._container = None
            self._vps = None
            self.get_docker_client().client.close()

    def __enter__(self) -> VpsContainer:
        return self.start()
