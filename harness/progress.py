"""Progress lines: one per stage of a slow job, with elapsed seconds.

The library reports through a :data:`Progress` callable; the CLI prints to
stderr, the pytest plugin writes through pytest's terminal reporter.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """The default reporter: one plain line on stderr."""
    print(f"vps-harness: {message}", file=sys.stderr, flush=True)


class Stopwatch:
    """Seconds since it was made, formatted the one way every line uses.

    >>> str(Stopwatch())
    '0.0 s'
    """

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __str__(self) -> str:
        return f"{self.elapsed:.1f} s"
