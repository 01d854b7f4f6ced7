"""What the reaper removes, against a fake engine: labelled only, by owner."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from harness import labels
from harness.reaper import KEPT_PREFIX, owner_alive, sweep


class FakeResource:
    def __init__(self, engine: FakeEngine, rid: str, resource_labels: dict[str, str], name: str = "") -> None:
        self.engine, self.id, self.labels, self.name = engine, rid, resource_labels, name
        self.attrs = {"Labels": resource_labels}
        self.refusal: docker.errors.APIError | None = None

    def remove(self, **_: Any) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.engine.removed.append(self.id)


def conflict(explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = 409
    return docker.errors.APIError("409 Client Error: Conflict", response=response, explanation=explanation)


class FakeCollection:
    def __init__(self, items: list[FakeResource]) -> None:
        self.items = items

    def list(self, *, filters: dict[str, str], **_: Any) -> list[FakeResource]:
        assert filters == {"label": labels.SESSION}, "the reaper must only ever ask for labelled resources"
        return [item for item in self.items if labels.SESSION in item.labels]


class FakeApi:
    """The low-level client, for images: list rows and remove by id."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.items: list[FakeResource] = []

    def images(self, *, filters: dict[str, str]) -> list[dict[str, Any]]:
        assert filters == {"label": labels.SESSION}, "the reaper must only ever ask for labelled resources"
        return [{"Id": item.id, "Labels": item.labels} for item in self.items if labels.SESSION in item.labels]

    def remove_image(self, image: str, **_: Any) -> None:
        self.engine.removed.append(image)


class FakeEngine:
    def __init__(self) -> None:
        self.removed: list[str] = []
        self.containers = FakeCollection([])
        self.api = FakeApi(self)
        self.networks = FakeCollection([])
        self.volumes = FakeCollection([])

    def add(self, kind: str, rid: str, resource_labels: dict[str, str], name: str = "") -> None:
        resource = FakeResource(self, rid, resource_labels, name)
        (self.api.items if kind == "images" else getattr(self, kind).items).append(resource)


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped); new for each test, so the suite's other
    processes have little time to be given it again (pid_max may be 32768)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def owned(session: str, pid: int | None) -> dict[str, str]:
    found = {labels.SESSION: session, labels.HOST: socket.gethostname()}
    if pid is not None:
        found[labels.PID] = str(pid)
    return found


@pytest.fixture
def engine(dead_pid: int) -> FakeEngine:
    engine = FakeEngine()
    engine.add("containers", "live", owned("s1", os.getpid()), "vps-a-s1-1")
    engine.add("containers", "dead", owned("s2", dead_pid), "vps-a-s2-1")
    engine.add("containers", "kept", owned("s2", dead_pid), KEPT_PREFIX + "vps-b-s2-2")
    engine.add("containers", "cli", owned("cli", None), "vps-harness-web")
    engine.add("containers", "foreign", {"com.example": "x"}, "not-ours")
    engine.add("images", "dead-build", owned("s2", dead_pid))
    engine.add("networks", "dead-net", owned("s2", dead_pid))
    engine.add("volumes", "live-vol", owned("s1", os.getpid()))
    return engine


def test_default_removes_only_what_dead_owners_left(engine: FakeEngine) -> None:
    swept = sweep(engine)  # type: ignore[arg-type]
    assert engine.removed == ["dead", "dead-build", "dead-net"]
    assert len(swept) == 3


def test_gc_also_clears_kept_vpses_of_dead_runs(engine: FakeEngine) -> None:
    sweep(engine, spare_kept=False)  # type: ignore[arg-type]
    assert engine.removed == ["dead", "kept", "dead-build", "dead-net"]


def test_everything_removes_every_labelled_one_and_nothing_else(engine: FakeEngine) -> None:
    sweep(engine, everything=True, spare_kept=False)  # type: ignore[arg-type]
    assert engine.removed == ["live", "dead", "kept", "cli", "dead-build", "dead-net", "live-vol"]


def test_own_session_and_pid(engine: FakeEngine) -> None:
    sweep(engine, session="s1", pid=os.getpid())  # type: ignore[arg-type]
    assert engine.removed == ["live", "live-vol"]


def test_a_container_another_process_is_removing_counts_as_gone(engine: FakeEngine) -> None:
    """Two xdist workers' start-up sweeps meet on one killed run's leftovers."""
    dead = next(item for item in engine.containers.items if item.id == "dead")
    dead.refusal = conflict(f"removal of container {dead.id} is already in progress")
    swept = sweep(engine)  # type: ignore[arg-type]
    assert engine.removed == ["dead-build", "dead-net"] and swept.containers == []
    dead.refusal = conflict("You cannot remove a running container: stop it first")
    with pytest.raises(docker.errors.APIError, match="cannot remove"):
        sweep(engine)  # type: ignore[arg-type]


def test_a_runs_end_takes_only_its_dead_workers_leftovers(engine: FakeEngine, dead_pid: int) -> None:
    engine.add("containers", "s2-live", owned("s2", os.getpid()), "vps-c-s2-3")
    sweep(engine, session="s2", dead_only=True)  # type: ignore[arg-type]
    assert engine.removed == ["dead", "dead-build", "dead-net"], "not a live worker's, not a kept one"


def test_owner_alive(dead_pid: int) -> None:
    assert owner_alive(owned("s", os.getpid()))
    assert not owner_alive(owned("s", dead_pid))
    assert owner_alive(owned("cli", None)), "no pid (vps-harness up): never the reaper's"
    assert owner_alive({**owned("s", dead_pid), labels.HOST: "another-machine"}), "not ours to judge"


def test_removed_vpses_take_their_staged_keys_along(tmp_path: Path, dead_pid: int) -> None:
    dead_session = tmp_path / "vps-harness-keys-dead"
    live_session = tmp_path / "vps-harness-keys-live"
    for folder in (dead_session / "vps-a", live_session / "vps-b", tmp_path / "unrelated"):
        folder.mkdir(parents=True)
    engine = FakeEngine()
    engine.add("containers", "dead", {**owned("s2", dead_pid), labels.SECRETS: str(dead_session / "vps-a")})
    engine.add("containers", "live", {**owned("s1", os.getpid()), labels.SECRETS: str(live_session / "vps-b")})
    engine.add("containers", "odd", {**owned("s3", dead_pid), labels.SECRETS: str(tmp_path / "unrelated")})
    sweep(engine)  # type: ignore[arg-type]
    assert not dead_session.exists(), "a dead run's key directory goes with its last VPS"
    assert (live_session / "vps-b").exists()
    assert (tmp_path / "unrelated").exists(), "never a directory that is not vps-harness's"
    sweep(engine, everything=True)  # type: ignore[arg-type]
    assert not (live_session / "vps-b").exists() and live_session.exists(), "a live owner keeps its session key"
