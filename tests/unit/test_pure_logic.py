"""The harness's pure logic, which the e2e tests only reach through real containers:
run options and mode checks, snapshot keys, world slots, the one wait loop and
the identity's sweep of stale files."""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from pathlib import Path

import pytest

from harness.errors import ConfigError, VpsNotReady
from harness.flows import snapshots
from harness.identity import Identity
from harness.images import recipe_key
from harness.launch import run_options
from harness.ssh import KeyPair
from harness.waiting import wait_for
from harness.want import check_modes

# -- run options and mode checks ----------------------------------------------


def test_systemd_run_options_per_cgroup_version_and_capabilities() -> None:
    v1 = run_options("systemd", cgroup_version=1)
    assert [m["Target"] for m in v1["mounts"]] == ["/sys/fs/cgroup"] and "cgroupns" not in v1
    assert v1["cap_add"] == ["ALL"] and v1["cap_drop"] == ["SYS_RESOURCE"], "ALL without what the host withholds"
    v2 = run_options("systemd", cgroup_version=2, all_caps_are_its_own=True)
    assert v2["cgroupns"] == "private" and "mounts" not in v2, "its own subtree, no bind of the host's"
    assert "cap_drop" not in v2, "Docker 23+ gives exactly what it holds for ALL"
    assert "apparmor=unconfined" in v2["security_opt"] and v2["tty"] is True
    assert set(v2["tmpfs"]) == {"/run", "/run/lock"}


def test_sshd_as_pid_1_gets_no_machine_privileges() -> None:
    options = run_options("sshd", cgroup_version=2)
    assert not {"cap_add", "security_opt", "cgroupns", "mounts", "tty"} & set(options)


@pytest.mark.parametrize(
    ("init", "cgroup", "said"),
    [("upstart", 1, "init='upstart' is not one of"), ("systemd", 3, "cgroup_version=3 is not 1 or 2")],
)
def test_run_options_refuse_what_no_engine_has(init: str, cgroup: int, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        run_options(init, cgroup_version=cgroup)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("init", "docker", "said"),
    [
        ("openrc", "none", "init='openrc' is not one of systemd, sshd"),
        ("systemd", "podman", "docker='podman' is not one of"),
        ("sshd", "dind", "docker='dind' runs docker.service under systemd; init='sshd' has none"),
        ("sshd", "bare", "docker='bare' runs docker.service under systemd"),
    ],
)
def test_check_modes_names_the_value_and_what_would_do(init: str, docker: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        check_modes(init, docker)


@pytest.mark.parametrize(("init", "docker"), [("systemd", "dind"), ("sshd", "socket"), ("sshd", "none")])
def test_check_modes_takes_what_works(init: str, docker: str) -> None:
    check_modes(init, docker)


# -- snapshot keys --------------------------------------------------------------


def _recipe(root: Path, script: str = "apt-get install -y nginx\n") -> list[Path]:
    (root / "recipe" / "templates").mkdir(parents=True)
    (root / "recipe" / "install.sh").write_text(script)
    (root / "recipe" / "templates" / "site.conf").write_text("server {}\n")
    (root / "driver.py").write_text("def provision(vps): ...\n")
    return [root / "recipe", root / "driver.py"]


def test_a_snapshot_key_is_the_recipe_s_content_not_where_the_checkout_is(tmp_path: Path) -> None:
    here, clone = _recipe(tmp_path / "here"), _recipe(tmp_path / "elsewhere" / "clone")
    assert recipe_key(here, "web", "systemd") == recipe_key(clone, "web", "systemd")


def test_a_snapshot_key_changes_with_content_names_modes_and_salt(tmp_path: Path) -> None:
    paths = _recipe(tmp_path / "a")
    key = recipe_key(paths, "web", "systemd")
    assert key != recipe_key(paths, "web", "sshd"), "the salt (init, name, ...) counts"
    assert key != recipe_key(paths[:1], "web", "systemd"), "every path counts"
    (tmp_path / "a" / "recipe" / "templates" / "site.conf").write_text("server { listen 80; }\n")
    assert key != recipe_key(paths, "web", "systemd"), "a file deep in a folder counts"
    changed = recipe_key(paths, "web", "systemd")
    (tmp_path / "a" / "recipe" / "install.sh").chmod(0o755)
    assert changed != recipe_key(paths, "web", "systemd"), "the executable bit counts"
    shutil.copytree(tmp_path / "a" / "recipe", tmp_path / "b" / "renamed")
    assert recipe_key([tmp_path / "b" / "renamed", paths[1]], "web", "systemd") != recipe_key(
        paths, "web", "systemd"
    ), "a path counts by its name"


# -- world slots -------------------------------------------------------------------


def test_world_slots_are_distinct_24s_of_the_pool_in_a_stable_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPS_HARNESS_WORLD_SUBNETS", raising=False)
    pool = ipaddress.IPv4Network("10.213.0.0/16")
    key = "9f" * 32
    slots = snapshots._slots(key)
    assert slots == snapshots._slots(key), "the same key tries the same slots, in every process"
    assert len(slots) == len(set(slots)) == snapshots.SLOTS
    assert all(ipaddress.IPv4Network(s).prefixlen == 24 and ipaddress.IPv4Network(s).subnet_of(pool) for s in slots)
    assert slots[0] == str(list(pool.subnets(new_prefix=24))[int(key[:8], 16) % 256])
    assert snapshots._slots("00" * 32)[0] != slots[0], "another world starts elsewhere"


def test_a_small_pool_gives_as_many_slots_as_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPS_HARNESS_WORLD_SUBNETS", "10.99.4.0/23")
    assert sorted(snapshots._slots("ab" * 32)) == ["10.99.4.0/24", "10.99.5.0/24"]


@pytest.mark.parametrize(
    ("value", "said"),
    [("10.213.0.0/25", "holds no /24"), ("ten.zero/16", "is not an IPv4 network such as 10.213.0.0/16")],
)
def test_a_bad_world_pool_names_the_variable_and_what_would_do(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv("VPS_HARNESS_WORLD_SUBNETS", value)
    with pytest.raises(ConfigError, match=f"VPS_HARNESS_WORLD_SUBNETS={value!r} {said}"):
        snapshots.subnets()


def test_a_slot_is_taken_by_one_holder_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPS_HARNESS_WORLD_SUBNETS", "10.99.4.0/23")
    first, held = snapshots._take_slot(tmp_path, "ab" * 32, set())
    try:
        second, other = snapshots._take_slot(tmp_path, "ab" * 32, set())
        assert second != first, "a held slot is skipped"
        other.release()
        with pytest.raises(RuntimeError, match="every subnet a world may use is taken"):
            snapshots._take_slot(tmp_path, "ab" * 32, {"10.99.4.0/24", "10.99.5.0/24"})
    finally:
        held.release()


# -- the wait loop ---------------------------------------------------------------


def test_wait_for_returns_the_first_value_and_treats_errors_as_not_yet() -> None:
    tries: list[int] = []

    def check() -> str | None:
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionRefusedError("not listening yet")
        return "ready" if len(tries) >= 3 else None

    assert wait_for(check, timeout=5, what="probe", first_delay=0, max_delay=0) == "ready"
    assert len(tries) == 3


def test_wait_for_names_what_it_waited_for_and_the_last_error() -> None:
    def check() -> None:
        raise OSError("connection refused")

    said = r"SSH on VPS web: not within 0.05 s; last error: OSError: connection refused"
    with pytest.raises(VpsNotReady, match=said):
        wait_for(check, timeout=0.05, what="SSH on VPS web", first_delay=0.01, max_delay=0.01)


def test_wait_for_stops_at_once_when_waiting_is_pointless() -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        return False

    with pytest.raises(VpsNotReady, match="boot of VPS web: its container is exited"):
        wait_for(check, timeout=60, what="boot of VPS web", still_alive=lambda: "its container is exited")
    assert calls == [1], "one try, no waiting out the timeout"


def test_wait_for_takes_false_as_not_yet() -> None:
    answers = iter([False, False, 0])
    assert wait_for(lambda: next(answers), timeout=5, what="x", first_delay=0, max_delay=0) == 0


# -- the identity's sweep ----------------------------------------------------------


def test_forget_all_but_removes_only_stale_files_of_vpses_gone(tmp_path: Path) -> None:
    identity = Identity(tmp_path, KeyPair.generate("test"))
    for alias in ("alive", "gone", "young"):
        (tmp_path / alias).mkdir()
        (tmp_path / f"known_hosts-{alias}").write_text(f"[127.0.0.1]:1 {alias}\n")
    (tmp_path / "notes.txt").write_text("not the harness's\n")
    old = time.time() - 3600
    for path in tmp_path.iterdir():
        if "young" not in path.name:
            os.utime(path, (old, old))
    identity.forget_all_but({"alive"})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert "gone" not in left and "known_hosts-gone" not in left, "a VPS gone for an hour: its files go"
    assert {"alive", "known_hosts-alive"} <= set(left), "a living VPS keeps its files"
    assert {"young", "known_hosts-young"} <= set(left), "files younger than the grace: another process is starting it"
    assert "notes.txt" in left, "a file that is not a VPS's is never touched"


# -- a fleet's close ----------------------------------------------------------------


class _Removable:
    """A VPS or network whose removal works or fails (``remove`` is what Fleet.close calls)."""

    def __init__(self, name: str, removed: list[str], error: Exception | None = None) -> None:
        self.name, self._removed, self._error = name, removed, error

    def remove(self) -> None:
        if self._error is not None:
            raise self._error
        self._removed.append(self.name)


def test_a_fleet_s_close_removes_everything_it_can_and_then_names_what_failed(tmp_path: Path) -> None:
    import docker.errors

    from harness.errors import SeveralFailed
    from harness.fleet import Fleet

    fleet = Fleet(None, None, session="s", identity=Identity(tmp_path, KeyPair.generate("t")))  # type: ignore[arg-type]
    removed: list[str] = []
    closed: list[bool] = []
    fleet.on_close(lambda: closed.append(True))
    busy = docker.errors.APIError("network net-a has active endpoints")
    fleet.vpses = [_Removable("web", removed), _Removable("db", removed, OSError("engine hung up"))]  # type: ignore[list-item]
    fleet.networks = [  # type: ignore[list-item]
        _Removable("net-a", removed, busy),
        _Removable("net-b", removed),
        _Removable("net-gone", removed, docker.errors.NotFound("already gone")),
    ]
    with pytest.raises(SeveralFailed) as caught:
        fleet.close()
    assert sorted(removed) == ["net-b", "web"], "a failed removal keeps none of the others"
    assert [name for name, _ in caught.value.failures] == ["VPS db", "network net-a"], "a network already gone is fine"
    assert "engine hung up" in str(caught.value) and "active endpoints" in str(caught.value)
    assert closed == [True] and fleet.vpses == [] and fleet.networks == []
    fleet.close()  # twice is safe


def test_stages_that_share_a_deadline_fail_by_it_and_say_the_whole_budget() -> None:
    deadline = time.monotonic() - 1  # an earlier stage used the time up
    tries: list[int] = []

    def check() -> None:
        tries.append(1)

    with pytest.raises(VpsNotReady, match="systemd boot of VPS web: not within 90 s"):
        wait_for(check, timeout=90, deadline=deadline, what="systemd boot of VPS web")
    assert tries == [1], "one try, then the shared deadline has passed"
