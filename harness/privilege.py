"""How much privilege a Docker-in-Docker VPS gets: one explicit set, the
same on every engine, never ``--privileged``.

``--privileged`` (moby daemon/oci_linux.go, 20.10 to 29) gives every
capability the daemon holds, every host device (with an allow-all device
cgroup rule), /sys and the cgroup tree read-write, no masked or read-only
/proc paths, and no seccomp, AppArmor or SELinux confinement. Runners grant
it; hosts like ours refuse it (the host withholds CAP_SYS_RESOURCE, so runc
fails with "unable to apply caps"). A VPS that got it on one engine and the
smaller set on another would behave differently across the two (the host's
disks in its /dev, /sys writable), so a test that passes on a runner could
fail here, and the other way round. So every engine gets the set below,
measured to run systemd and an inner engine whose containers publish ports
on cgroup v1 (this machine's engine) and cgroup v2 with nsdelegate
(``scripts/cgroup2-engine``); the cgroup tree is made writable by the VPS's
``vps-init`` (see :func:`harness.launch.run_options`).
"""

from __future__ import annotations

from typing import Any

import docker
from docker.models.containers import Container, _create_container_args

#: The key of create options that go into HostConfig as they are (docker-py
#: has no argument for them); see :func:`create`.
HOST_CONFIG = "host_config_fields"

#: Docker's default capabilities plus these, without seccomp, AppArmor and
#: SELinux confinement (AppArmor's ``docker-default`` denies every mount, and
#: the inner engine mounts overlays; ``label=disable`` is what
#: ``--privileged`` implies on an SELinux host, where Docker otherwise labels
#: the VPS ``container_t``: untested here, this kernel has no SELinux and no
#: AppArmor). No masked or read-only system paths (``--security-opt
#: systempaths=unconfined``, which the CLI sends as empty
#: ``MaskedPaths``/``ReadonlyPaths``): /proc/sys is writable, as
#: ``--privileged`` leaves it. Engines from 26 on write each inner container's
#: ``net.ipv6.conf.eth0.disable_ipv6`` and fail its start when they cannot
#: ("failed to disable IPv6 on container's interface"). As under
#: ``--privileged``, the VPS's root can then also set the host's own (not
#: namespaced) sysctls: a DinD VPS is a disposable test machine of a trusted
#: suite, never a sandbox.
OWN_ENGINE: dict[str, Any] = {
    "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined", "label=disable"],
    HOST_CONFIG: {"MaskedPaths": [], "ReadonlyPaths": []},
}


def create(client: docker.DockerClient, image: str, options: dict[str, Any]) -> Container:
    """``client.containers.create(image, **options)``, with ``options[HOST_CONFIG]`` merged into its HostConfig."""
    options = dict(options)
    fields = options.pop(HOST_CONFIG, {})
    if not fields:
        return client.containers.create(image, **options)
    # docker-py's own translation of create options (what containers.create
    # does), then the fields it has no argument for.
    args = _create_container_args({**options, "image": image, "version": client.api._version})
    args["host_config"].update(fields)
    return client.containers.get(client.api.create_container(**args)["Id"])
