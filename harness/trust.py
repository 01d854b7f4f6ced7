"""Trust between two servers by key, as an admin sets it up: a key of the user's own made on one,
authorized on the other, and the other's host key known under every name it has there."""

from __future__ import annotations

import contextlib
import shlex
from typing import TYPE_CHECKING, Protocol

from harness.errors import UsageError
from harness.server import Commands

if TYPE_CHECKING:
    from harness.cables import Cables


class Trusting(Commands, Protocol):
    """A server as trust sees it: one that runs commands, with its aliases and cables (for its addresses)."""

    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def cables(self) -> Cables: ...


def trust(here: Trusting, there: Trusting, user: str, as_user: str | None = None) -> None:
    """Let ``user`` on ``here`` log in to ``there`` as ``as_user`` (default: the same name) by key.

    ``user`` gets an ed25519 key of its own (made once, on ``here``); its
    public half goes into ``as_user``'s authorized_keys on ``there``, and
    ``there``'s host key into ``user``'s known_hosts under every name it
    has from ``here`` (name, aliases, addresses on shared networks).
    """
    public = here.run(
        "mkdir -p -m 700 ~/.ssh && { test -f ~/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' "
        "-f ~/.ssh/id_ed25519; } && cat ~/.ssh/id_ed25519.pub",
        user=user,
    ).stdout.strip()
    there.run(
        f"mkdir -p -m 700 ~/.ssh && echo {shlex.quote(public)} >> ~/.ssh/authorized_keys "
        "&& chmod 600 ~/.ssh/authorized_keys",
        user=as_user or user,
    )
    names = [there.name, *there.aliases]
    with contextlib.suppress(UsageError):
        names.append(here.cables.shared_ip(there.cables))
    key_type, key_data = there.host_key.split()[:2]
    known = " ".join([",".join(names), key_type, key_data])
    here.run(f"echo {shlex.quote(known)} >> ~/.ssh/known_hosts", user=user)
