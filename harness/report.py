"""What a failed test shows about a VPS: how to reach it, every command it
ran, its failed units, journal, inner engine and console."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from harness.readiness import DIND_UNITS
from harness.result import redact
from harness.want import OWN_ENGINE

if TYPE_CHECKING:
    from harness.server import Console, Reported, Shell
    from harness.ssh import Transcript

#: Carriage returns and colour codes a console adds.
_TERMINAL_CONTROL = re.compile(r"\r|\x1b\[[0-9;]*m")


def logs(vps: Console, tail: int = 200) -> str:
    """The container's output (``docker logs``): the console under systemd, sshd's log otherwise."""
    text = vps.container.logs(tail=tail).decode(errors="replace")
    return _TERMINAL_CONTROL.sub("", text)


def journal(vps: Shell, lines: int = 200, units: tuple[str, ...] = ()) -> str:
    """The last ``lines`` of the journal (of ``units``, else all), or why there is none."""
    if vps.init != "systemd":
        return "(sshd is PID 1: no journal; its log is in docker logs)"
    only = "".join(f" -u {shlex.quote(unit)}" for unit in units)
    try:
        return vps.connections.session().run(f"sudo -n journalctl -n {lines}{only} --no-pager", timeout=20).stdout
    except Exception as e:  # noqa: BLE001 - a report says why a part is missing, it never fails
        return f"(journal unavailable: {type(e).__name__}: {e})"


def report(vps: Reported, transcript: Transcript) -> str:
    """Reach line, transcript, journal tail and docker logs, for a failed test's report;
    the secrets commands were given (``Vps.run(secret=...)``) shown as ``[secret]``."""
    try:
        reach = vps.ssh_command()
    except Exception as e:  # noqa: BLE001 - the rest of the report still helps
        reach = f"(no route: {type(e).__name__}: {e})"
    parts = [
        f"VPS {vps.name} ({vps.os}, init={vps.init}, container {vps.container.short_id})",
        f"reach it: {reach}",
        "--- commands ---",
        transcript.render(),
    ]
    if vps.failed_units:
        parts += ["--- failed units at boot ---", vps.failed_units]
    parts += ["--- journal (last 200 lines) ---", journal(vps)]
    if vps.docker in OWN_ENGINE:  # bare: the engine its provisioning installed, if any
        parts += ["--- inner Docker engine (last 50 lines) ---", journal(vps, 50, units=DIND_UNITS)]
    parts += ["--- docker logs ---", logs(vps)]
    return redact("\n".join(parts), transcript.secrets)
