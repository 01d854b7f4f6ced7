"""A mock VPS: one container of a VPS image, run as a server is."""

from __future__ import annotations

from typing import Any, Literal

Init = Literal["systemd", "sshd"]

#: PID 1 of each init mode; the image's own CMD is systemd.
INIT_COMMANDS: dict[str, list[str]] = {
    "systemd": ["/sbin/init"],
    "sshd": ["/usr/local/sbin/vps-sshd"],
}


def run_options(init: Init) -> dict[str, Any]:
    """docker-py ``containers.create`` options for a VPS with ``init`` as PID 1.

    systemd needs the capabilities of a real machine (every one but
    CAP_SYS_RESOURCE, which hosts like ours withhold, so ``--privileged``
    fails), no seccomp filter, its cgroup tree writable, and /run on tmpfs.
    """
    if init not in INIT_COMMANDS:
        raise ValueError(f"init={init!r} is not one of {', '.join(INIT_COMMANDS)}")
    options: dict[str, Any] = {
        "command": INIT_COMMANDS[init],
        "tmpfs": {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
    }
    if init == "systemd":
        options.update(
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined"],
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        )
    return options
