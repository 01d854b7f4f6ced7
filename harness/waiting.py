"""One bounded wait loop; every readiness check is a predicate given to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from harness.errors import VpsNotReady

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    still_alive: Callable[[], str | None] = lambda: None,
    first_delay: float = 0.01,
    max_delay: float = 0.2,
    deadline: float | None = None,
) -> T:
    """Call ``check`` until it returns something other than None or False.

    Between tries it sleeps with a backoff from ``first_delay`` to
    ``max_delay``. ``still_alive`` returns a reason when waiting is
    pointless (the container exited), which fails at once. A check that
    raises counts as "not yet"; the last error is in the timeout message.
    ``deadline`` (a ``time.monotonic()`` value): when the wait is one stage
    of several that share ``timeout``, where that time ends.
    """
    if deadline is None:
        deadline = time.monotonic() + timeout
    delay = first_delay
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except Exception as e:  # noqa: BLE001 - any failure of a probe means "not yet"
            last_error = e
        dead = still_alive()
        if dead:
            raise VpsNotReady(f"{what}: {dead}")
        if time.monotonic() >= deadline:
            because = f"; last error: {type(last_error).__name__}: {last_error}" if last_error else ""
            raise VpsNotReady(f"{what}: not within {timeout:g} s{because}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_delay)
