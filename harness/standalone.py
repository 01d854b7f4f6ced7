"""VPSes made outside pytest (``vps-harness up``): named by the user, owned by
no process, reached with a key kept in the cache, removed by ``down`` or
``gc --all``.

>>> desk = Standalone(docker_client(), HarnessConfig.from_env().cli_dir)  # doctest: +SKIP
>>> web = desk.up(desk.image(Images(desk.client), parse_spec("debian:12")), name="web")  # doctest: +SKIP
>>> desk.down("web")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import tempfile
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from harness import labels
from harness.errors import HarnessError
from harness.fleet import Fleet
from harness.images import Images, VpsImage
from harness.spec import OsSpec
from harness.ssh import KeyPair
from harness.vps import DockerMode, Init, Vps, remove_belongings

#: The session label of every VPS the CLI makes; it has no pid label, so
#: the reaper leaves it to ``down`` and ``gc --all``.
SESSION = "cli"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class NoSuchVps(HarnessError):
    """No VPS made by ``vps-harness up`` has that name."""


class Standalone:
    """The VPSes of ``vps-harness up``, with their key and state under ``state_dir``."""

    def __init__(self, client: docker.DockerClient, state_dir: Path) -> None:
        self.client = client
        self.state_dir = state_dir

    @property
    def key_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    def key(self) -> KeyPair:
        """The CLI's client key, made on first use in a 0700 directory."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.key_file.exists():
            KeyPair.generate("vps-harness-cli").save(self.key_file)
        return KeyPair.load(self.key_file)

    def known_hosts(self, name: str) -> Path:
        return self.state_dir / f"known_hosts-{name}"

    def _secrets(self, name: str) -> Path:
        return self.state_dir / "vps" / name

    def image(self, images: Images, spec: OsSpec, docker: DockerMode = "none") -> VpsImage:
        """The image ``up`` starts; for ``docker="dind"`` it may first seed one (see :meth:`Images.dind`)."""
        if docker == "socket":
            raise HarnessError(
                "docker='socket' needs the process serving the VPS's Docker socket to outlive it, "
                "and `vps-harness up` exits: use --docker=dind here, or vps_factory(docker='socket') in a test"
            )
        if docker != "dind":
            return images.vps(spec)
        with tempfile.TemporaryDirectory(prefix=f"{labels.PREFIX}-seed-") as folder:
            fleet = Fleet(self.client, images, session=labels.new_session_id(), key=self.key(), secrets=Path(folder))
            return images.dind(spec, fleet.docker_store)

    def up(
        self, image: VpsImage, *, name: str | None = None, init: Init = "systemd", docker: DockerMode = "none"
    ) -> Vps:
        """Start a VPS of ``image`` (see :meth:`image`) named ``name`` or the first free ``vpsN``; wait until ready."""
        taken = {c.labels.get(labels.NAME) for c in self.containers()}
        if name is None:
            name = next(f"vps{n}" for n in range(1, len(taken) + 2) if f"vps{n}" not in taken)
        elif not _NAME.match(name):
            raise HarnessError(f"name {name!r} is not a host name: use lowercase letters, digits and '-'")
        elif name in taken:
            raise HarnessError(f"a VPS named {name!r} exists already; `vps-harness down {name}` removes it")
        shutil.rmtree(self._secrets(name), ignore_errors=True)  # a VPS removed by `gc --all` left it
        vps = Vps.create(
            self.client,
            image,
            name=name,
            container_name=f"vps-harness-{name}",
            owner_labels={labels.SESSION: SESSION, labels.HOST: socket.gethostname()},
            key=self.key(),
            secrets=self._secrets(name),
            init=init,
            docker_mode=docker,
        )
        self.known_hosts(name).write_text(vps.known_hosts_line() + "\n")
        return vps

    def containers(self) -> list[Container]:
        """The CLI's VPS containers, running or not."""
        mine = {"label": f"{labels.SESSION}={SESSION}"}
        return list(self.client.containers.list(all=True, filters=mine, ignore_removed=True))

    def get(self, name: str) -> Vps:
        """The running VPS ``name``, ready to use."""
        for container in self.containers():
            if container.labels.get(labels.NAME) == name:
                if container.status != "running":
                    raise HarnessError(f"VPS {name!r} is {container.status}; `vps-harness down {name}` removes it")
                return Vps.attach(self.client, container, self.key())
        raise NoSuchVps(f"no VPS named {name!r} was made by `vps-harness up`; {self._which()}")

    def down(self, name: str | None = None) -> list[str]:
        """Remove VPS ``name`` (or, with None, every one of the CLI's) and its state; the names removed."""
        chosen = [c for c in self.containers() if name is None or c.labels.get(labels.NAME) == name]
        if name is not None and not chosen:
            raise NoSuchVps(f"no VPS named {name!r} was made by `vps-harness up`; {self._which()}")
        for container in chosen:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
            remove_belongings(self.client, container.name)
        self.forget_removed()
        return [c.labels.get(labels.NAME, c.name) for c in chosen]

    def forget_removed(self) -> None:
        """Delete the keys and known_hosts of CLI VPSes that no longer exist."""
        alive = {c.labels.get(labels.NAME) for c in self.containers()}
        for folder in (self.state_dir / "vps").glob("*"):
            if folder.name not in alive:
                shutil.rmtree(folder, ignore_errors=True)
        for known in self.state_dir.glob("known_hosts-*"):
            if known.name.removeprefix("known_hosts-") not in alive:
                known.unlink(missing_ok=True)

    def _which(self) -> str:
        names = sorted(c.labels.get(labels.NAME, "?") for c in self.containers())
        return f"there are: {', '.join(names)}" if names else "there are none (`vps-harness up SPEC` makes one)"
