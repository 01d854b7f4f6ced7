"""Machine-wide locks: one process on the machine makes a thing (an image, a snapshot, the package
cache) while the others wait for it, whatever process or xdist worker they are."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout

from harness.errors import ImageUnavailable
from harness.progress import Progress

#: How long a process waits for another's making of the same thing.
LOCK_TIMEOUT = 3600.0

T = TypeVar("T")
#: Holds a machine-wide lock: ``lock(name, what)`` (:func:`machine_lock` on a lock folder).
Lock = Callable[[str, str], AbstractContextManager[None]]


@contextmanager
def machine_lock(directory: Path, name: str, what: str, progress: Progress) -> Iterator[None]:
    """Hold the lock ``name`` (a file in ``directory``); say once when another process holds it.

    ``what``: the thing it guards, as messages name it (``VPS image of debian:12``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        progress(f"waiting for another process that is making the {what}")
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except Timeout as e:
            raise ImageUnavailable(
                f"gave up after {LOCK_TIMEOUT:.0f} s waiting for another process to make the {what} "
                f"(lock {lock.lock_file})"
            ) from e
    try:
        yield
    finally:
        lock.release()


def made_once(lock: Lock, name: str, what: str, find: Callable[[], T | None], make: Callable[[], T]) -> tuple[T, bool]:
    """What ``find()`` finds, else what ``make()`` makes under the lock ``name``: made once on the machine.

    The one shape of every content-keyed thing the harness keeps (an image,
    a provisioned VPS's snapshot, a world's snapshots): look; when it is
    missing, take the lock and look again (another process may have made it
    while this one waited), and only then make it. Whether this call made it.
    """
    found = find()
    if found is not None:
        return found, False
    with lock(name, what):
        found = find()
        return (found, False) if found is not None else (make(), True)
