"""Every error vps-harness raises on purpose derives from :class:`HarnessError`.

Each message is written for the person reading a failed run: what failed,
where, and what to try. Exceptions carry the object they are about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.result import CommandResult


class HarnessError(Exception):
    """Base class of every error vps-harness raises on purpose."""


class UnknownOsSpec(HarnessError, ValueError):
    """A ``--vps`` value (or ``os=`` argument) that names no supported OS.

    >>> from harness.spec import parse_spec
    >>> parse_spec("ubuntu:15.10")
    Traceback (most recent call last):
    ...
    harness.errors.UnknownOsSpec: unknown OS spec 'ubuntu:15.10'; valid: ...
    """

    def __init__(self, value: str, valid: list[str]) -> None:
        self.value = value
        self.valid = valid
        super().__init__(f"unknown OS spec {value!r}; valid: {', '.join(valid)}")


class ConfigError(HarnessError, ValueError):
    """A setting (an environment variable) with a value vps-harness cannot use; the message names
    the variable, its value and what would do.

    >>> from harness.config import HarnessConfig
    >>> HarnessConfig.from_env({"VPS_HARNESS_PULL": "maybe"})
    Traceback (most recent call last):
    ...
    harness.errors.ConfigError: VPS_HARNESS_PULL='maybe' is not a yes/no value; use 1 or 0
    """


class EngineUnavailable(HarnessError):
    """No Docker engine answers."""


class ImageUnavailable(HarnessError):
    """A base image can be neither found, pulled nor bootstrapped here."""


class BuildFailed(HarnessError):
    """A bootstrap or image build failed.

    ``output`` holds every line it printed; the message shows the last 40
    and the command that reproduces it.
    """

    TAIL = 40

    def __init__(self, what: str, reproduce: str, output: list[str], reason: str = "") -> None:
        self.what = what
        self.reproduce = reproduce
        self.output = output
        tail = "\n".join("    " + line for line in output[-self.TAIL :])
        head = f"{what} failed" + (f": {reason}" if reason else "")
        super().__init__(
            f"{head}\n  last {min(len(output), self.TAIL)} lines of output:\n{tail}\n  to reproduce: {reproduce}"
        )


class CommandFailed(HarnessError):
    """A command exited non-zero with ``check=True``; ``result`` says how."""

    def __init__(self, result: CommandResult, where: str) -> None:
        self.result = result
        self.where = where
        tail = result.tail("stderr") or result.tail("stdout")
        shown = "\n".join("    " + line for line in tail.splitlines()) or "    (no output)"
        super().__init__(
            f"command {result.command!r} on {where} exited {result.exit_status} after {result.duration:.2f} s\n"
            f"  last lines of output:\n{shown}"
        )


class CommandTimeout(HarnessError):
    """A command outlived its ``timeout``; ``result`` holds what it printed so far."""

    def __init__(self, result: CommandResult, where: str, timeout: float) -> None:
        self.result = result
        self.where = where
        self.timeout = timeout
        super().__init__(
            f"command {result.command!r} on {where} did not finish within {timeout:g} s; "
            "the connection stays usable (pass a larger timeout= if it needs longer)"
        )


class VpsNotReady(HarnessError):
    """A VPS did not become ready: its container exited, or SSH never answered."""


class InnerEngineUnsupported(VpsNotReady):
    """The Docker an OS ships cannot run on this engine's cgroups: Docker before 20.10 knows cgroup v1 only,
    and a cgroup-v2 engine's host leaves no controller for a v1 mount (Ubuntu 16.04's 18.09 on a GitHub
    runner). ``reason`` says which Docker and which engine."""

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class HostKeyMismatch(HarnessError):
    """The server's host key is not the one the harness pinned for it."""


class UsageError(HarnessError, ValueError):
    """A call that cannot work as made, whatever the VPS's state (a port it was made without, a
    network it is not on); the message says what to do instead."""


class PackageCacheUnavailable(HarnessError):
    """The package cache could not be started."""


class ToolMissing(ImageUnavailable):
    """A program the harness needs is not installed."""


class NoSuchVps(HarnessError):
    """No VPS made by ``vps-harness up`` has that name."""


class SnapshotRefused(HarnessError):
    """A VPS whose state a snapshot cannot carry."""


class SeveralFailed(HarnessError):
    """Several of the calls run at once failed (VPSes started, snapshots taken): each failure, by name."""

    def __init__(self, failures: list[tuple[str, BaseException]], total: int) -> None:
        self.failures = failures
        lines = [f"  {name}: {type(error).__name__}: {error}" for name, error in failures]
        super().__init__(f"{len(failures)} of {total} failed:\n" + "\n".join(lines))
