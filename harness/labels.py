"""Label names: everything vps-harness makes carries them, and it touches
nothing that does not."""

from __future__ import annotations

import os
import socket
import uuid

PREFIX = "vps-harness"

#: On every container, network and volume: the session that made it.
SESSION = f"{PREFIX}.session"
#: On every container, network and volume: the pid of the process that owns it.
PID = f"{PREFIX}.pid"

#: On every container, network and volume: the host name of the owner's machine.
HOST = f"{PREFIX}.host"

#: On VPS containers: the VPS's name (its host name) and its init.
NAME = f"{PREFIX}.name"
INIT = f"{PREFIX}.init"
#: On VPS containers: its Docker mode (none, dind, socket).
DOCKER = f"{PREFIX}.docker"
#: On systemd VPS containers: the cgroup version of the engine it was started on (``1`` or ``2``).
CGROUP = f"{PREFIX}.cgroup"

#: On the VPSes and network of a world made by ``vps-harness world up``: its name.
WORLD = f"{PREFIX}.world"
#: On a world's VPSes and network: which CLI state directory (key) made it.
STATE = f"{PREFIX}.state"

#: On what belongs to one VPS (its DinD volume; what a socket-mode VPS made
#: through the host's engine): the VPS's container name.
PARENT = f"{PREFIX}.parent"

#: On VPS containers: the host directory its keys are staged in, removed with it.
SECRETS = f"{PREFIX}.secrets"

#: On images: ``base``, ``vps``, ``dind`` (a VPS image whose own engine holds its base) or ``inner``.
IMAGE_KIND = f"{PREFIX}.image"
#: On images: the OS spec they are for (``ubuntu:16.04``).
SPEC = f"{PREFIX}.spec"
#: On VPS images: the content hash of recipe, build context and base.
RECIPE_HASH = f"{PREFIX}.recipe-hash"
#: On inner images (``Images.inner``): their name in a VPS's engine, and their recipe folder.
INNER_NAME = f"{PREFIX}.inner-name"
RECIPE = f"{PREFIX}.recipe"
#: On DinD images that seed inner images: those images' tags.
INNER = f"{PREFIX}.inner"
#: On snapshots (``harness.snapshot``): the VPS image they were taken of, and
#: what their key was computed from (JSON: ``folders`` and ``salt``).
SNAPSHOT_OF = f"{PREFIX}.snapshot-of"
SNAPSHOT_RECIPE = f"{PREFIX}.snapshot-recipe"


def owner_labels(session: str) -> dict[str, str]:
    """The labels that mark a resource as made by ``session`` in this process."""
    return {SESSION: session, PID: str(os.getpid()), HOST: socket.gethostname()}


def new_session_id() -> str:
    """A fresh session id: short, unique, safe in container names."""
    return uuid.uuid4().hex[:12]
