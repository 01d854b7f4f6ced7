"""The outcome of a command run on a VPS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

#: What a secret is shown as in results, transcripts and failure reports.
REDACTED = "[secret]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by :data:`REDACTED`.

    >>> redact("login -p hunter2 ok", ["hunter2"])
    'login -p [secret] ok'
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


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

    def redacted(self, secrets: Iterable[str]) -> CommandResult:
        """This result with ``secrets`` replaced by :data:`REDACTED` in its command and output."""
        secrets = list(secrets)
        if not any(secrets):
            return self
        return replace(
            self,
            command=redact(self.command, secrets),
            stdout=redact(self.stdout, secrets),
            stderr=redact(self.stderr, secrets),
        )

    def tail(self, stream: str = "stderr", lines: int = 20) -> str:
        """The last ``lines`` lines of ``stdout`` or ``stderr``."""
        text: str = getattr(self, stream)
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])
