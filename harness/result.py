"""The outcome of a command run on a VPS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    """What a command did, as :func:`subprocess.run` would tell it.

    >>> r = CommandResult("true", 0, "", "", 0.004)
    >>> r.ok
    True
    """

    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, stream: str = "stderr", lines: int = 20) -> str:
        """The last ``lines`` lines of ``stdout`` or ``stderr``."""
        text: str = getattr(self, stream)
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])
