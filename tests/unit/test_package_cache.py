"""The package cache's users: the last process to stop using it removes its container."""

from __future__ import annotations

from pathlib import Path

import docker.errors
import pytest

from harness import cache


class Engine:
    """Knows no container by the cache's name: what ``stop`` asked for is recorded."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.containers = self

    def get(self, name: str) -> None:
        self.asked.append(name)
        raise docker.errors.NotFound(name)


def test_only_the_last_user_removes_the_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "USERS", tmp_path / "users")
    engine = Engine()
    first, second = cache.use(), cache.use()
    assert cache.done(first, engine) is False, "another process still uses it"  # type: ignore[arg-type]
    assert engine.asked == []
    assert cache.done(second, engine) is True  # type: ignore[arg-type]
    assert engine.asked == [cache.NAME]
