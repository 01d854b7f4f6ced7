"""The programs the harness runs on this machine, found whatever PATH the
caller has: a minimal PATH (``/usr/bin:/bin``, as cron, systemd units, CI
steps and ``sudo`` give) lacks the sbin directories where debootstrap and
chroot live.

>>> search_path("/usr/bin:/bin").split(":")[-3:]
['/usr/local/sbin', '/usr/sbin', '/sbin']
"""

from __future__ import annotations

import os
import shutil

from harness.errors import ToolMissing

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
#: The Debian package that provides each program the harness runs.
PACKAGES = {
    "debootstrap": "debootstrap",
    "gpgv": "gpgv",
    "chroot": "coreutils",
    "tar": "tar",
    "ssh": "openssh-client",
}


def search_path(path: str | None = None) -> str:
    """``path`` (default: ``$PATH``) with the sbin directories it lacks appended."""
    entries = [entry for entry in (os.environ.get("PATH", "") if path is None else path).split(os.pathsep) if entry]
    return os.pathsep.join([*entries, *(d for d in SBIN if d not in entries)])


def environment() -> dict[str, str]:
    """This process's environment, with the sbin directories on PATH (for tools that run others: debootstrap)."""
    return {**os.environ, "PATH": search_path()}


def find(tool: str, purpose: str) -> str:
    """The path of ``tool``; raise :class:`ToolMissing` naming the package that provides it."""
    found = shutil.which(tool, path=search_path())
    if found is None:
        package = PACKAGES.get(tool, tool)
        raise ToolMissing(
            f"{tool} is not installed (looked on PATH and in {', '.join(SBIN)}), and {purpose} needs it; "
            f"install the {package} package (scripts/setup-host does)"
        )
    return found
