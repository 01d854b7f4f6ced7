"""The CLI's key: made once on a machine, whole, however many runs start at once."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from harness.identity import KEY_NAME, Identity
from harness.ssh import KeyPair


def test_runs_starting_at_once_on_a_fresh_machine_all_get_the_one_key(tmp_path: Path) -> None:
    folder = tmp_path / "cli"
    barrier = threading.Barrier(8, timeout=10)
    got: list[KeyPair] = []

    def start() -> None:
        barrier.wait()
        got.append(Identity.at(folder).key)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = KeyPair.load(folder / KEY_NAME)
    assert len(got) == 8 and set(got) == {on_disk}, "one key, the one on disk"
    assert on_disk.pkey().get_base64() == on_disk.public.split()[1], "the private and public halves match"
    assert stat.S_IMODE((folder / KEY_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
