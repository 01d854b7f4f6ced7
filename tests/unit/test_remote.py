"""Engines elsewhere: how their URLs are read, and what the harness refuses there (no Docker)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from harness import cache, openssh
from harness.config import HarnessConfig
from harness.errors import ConfigError, HarnessError
from harness.launch import CARRIED, INIT_COMMANDS, SECRETS_MOUNT, carry, host_socket, run_options, uncarried
from harness.remote import parse
from harness.state import RunSettings


@pytest.mark.parametrize(
    ("url", "kind", "address", "publish_on"),
    [
        ("unix:///var/run/docker.sock", "local", "127.0.0.1", "127.0.0.1"),
        ("tcp://10.0.0.5:2375", "tcp", "10.0.0.5", "0.0.0.0"),
        ("tcp://build-1.internal:2376", "tcp", "build-1.internal", "0.0.0.0"),
        ("ssh://vps@10.0.0.5", "ssh", "127.0.0.1", "127.0.0.1"),
    ],
)
def test_where_a_vps_is_published_and_reached_per_engine(url: str, kind: str, address: str, publish_on: str) -> None:
    reach = parse(url)
    assert (reach.kind, reach.address, reach.publish_on, reach.local) == (kind, address, publish_on, kind == "local")


def test_the_host_override_moves_only_a_tcp_engines_address() -> None:
    assert parse("tcp://10.0.0.5:2375", host="192.0.2.7").address == "192.0.2.7"
    assert parse("ssh://10.0.0.5", host="192.0.2.7").address == "127.0.0.1"


def test_an_ssh_engines_hop_is_the_ssh_the_docker_cli_runs() -> None:
    assert parse("ssh://10.0.0.5").proxy_command("127.0.0.1", "32768") == "ssh -W 127.0.0.1:32768 -- 10.0.0.5"
    assert parse("ssh://root@h:2222").ssh == ("-l", "root", "-p", "2222", "h")
    assert parse("tcp://h:2375").proxy_command() == ""


def test_a_socket_vps_needs_the_engine_on_this_machine() -> None:
    assert host_socket(parse("unix:///run/user/1000/docker.sock")) == "/run/user/1000/docker.sock"
    with pytest.raises(HarnessError, match=r"the engine at tcp://10.0.0.5:2375 runs elsewhere.*docker='dind'"):
        host_socket(parse("tcp://10.0.0.5:2375"))


def test_the_engines_setting_is_a_list_of_urls_and_names_a_bad_one() -> None:
    config = HarnessConfig.from_env({"VPS_HARNESS_ENGINES": "tcp://a:2375, ssh://vps@b", "VPS_HARNESS_HOST": "c"})
    assert (config.engines, config.host) == (("tcp://a:2375", "ssh://vps@b"), "c")
    with pytest.raises(ConfigError, match="VPS_HARNESS_ENGINES entry 'b:2375' is not an engine URL; use unix://"):
        HarnessConfig.from_env({"VPS_HARNESS_ENGINES": "tcp://a:2375,b:2375"})


def test_workers_take_the_engines_in_turn() -> None:
    settings = RunSettings((), False, "s", engines=("tcp://a:2375", "tcp://b:2375"))
    assert [settings.engine(f"gw{n}") for n in range(4)] == ["tcp://a:2375", "tcp://b:2375"] * 2
    assert settings.engine("master") == "tcp://a:2375"
    assert RunSettings((), False, "s").engine("gw1") == ""


TRICKY = (
    "-----BEGIN KEY-----\nline with $HOME, `date`, 'single' \"double\" %s \\n and a backslash\\\n-----END KEY-----\n"
)


def test_carried_files_are_unpacked_byte_for_byte_and_the_init_gets_a_servers_environment(tmp_path: Path) -> None:
    """UNPACK, run by sh with its paths moved under tmp_path: each file exactly as staged (newlines, quotes,
    ``$``, ``%``, backslashes), the keys 0600 in a 0700 directory, an empty variable an empty file, and the
    init run with none of the variables and the umask it was started with."""
    staged = tmp_path / "staged"
    staged.mkdir()
    for name, text in {"ssh_host_ed25519_key": TRICKY, "authorized_keys": "ssh-ed25519 AAAA k\n"}.items():
        (staged / name).write_text(text)
    (staged / "apt-proxy.conf").write_text('Acquire::http::Proxy "http://10.0.0.2:3142";\n')
    options = run_options("sshd")
    carry(options, staged)
    assert options["command"][:2] == ["/bin/sh", "-c"] and options["command"][3:] == [
        "vps-harness",
        *INIT_COMMANDS["sshd"],
    ]
    run, apt = tmp_path / "run", tmp_path / "apt.conf"
    script = options["command"][2].replace(SECRETS_MOUNT, str(run)).replace(cache.APT_CONF, str(apt))
    init = ["sh", "-c", "umask; env"]
    done = subprocess.run(
        ["sh", "-c", script, "vps-harness", *init],
        env={"PATH": os.environ["PATH"], **options["environment"]},
        capture_output=True,
        text=True,
        umask=0o022,
    )
    assert done.returncode == 0, done.stderr
    assert (run / "ssh_host_ed25519_key").read_text() == TRICKY
    assert (run / "authorized_keys").read_text() == "ssh-ed25519 AAAA k\n"
    assert (run / "units").read_text() == "" and (run / "ssh_host_ed25519_key.pub").read_text() == ""
    assert apt.read_text() == 'Acquire::http::Proxy "http://10.0.0.2:3142";\n'
    assert stat.S_IMODE(run.stat().st_mode) == 0o700 and stat.S_IMODE((run / "authorized_keys").stat().st_mode) == 0o600
    assert done.stdout.splitlines()[0] == "0022" and "VPS_HARNESS" not in done.stdout
    (staged / "apt-proxy.conf").unlink()
    again = run_options("sshd")
    carry(again, staged)
    subprocess.run(
        ["sh", "-c", script, "vps-harness", "true"],
        env={"PATH": os.environ["PATH"], **again["environment"]},
        check=True,
    )
    assert not apt.exists(), "a start without the package cache removes a stale setting"


def test_a_commit_keeps_none_of_the_carried_files_and_the_init_as_its_command(tmp_path: Path) -> None:
    (tmp_path / "authorized_keys").write_text("ssh-ed25519 AAAA k\n")
    options = run_options("systemd")
    carry(options, tmp_path)
    config = {"Env": [f"{k}={v}" for k, v in options["environment"].items()], "Cmd": options["command"]}
    conf = uncarried(config)
    assert conf["Cmd"] == INIT_COMMANDS["systemd"]
    assert sorted(conf["Env"]) == sorted(f"{variable}=" for variable in CARRIED.values())
    assert uncarried({"Env": ["TERM=dumb"], "Cmd": INIT_COMMANDS["systemd"]}) == {}, "a bind-mount VPS carries nothing"


def test_an_ssh_masters_socket_path_fits_a_unix_socket_under_a_long_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS: $TMPDIR is about 50 bytes, a Unix socket's path at most 104 (OpenSSH refuses a longer ControlPath)."""
    hops = tmp_path / ("T" * max(1, 69 - len(str(tmp_path))))  # a 70-byte folder: macOS's $TMPDIR and ours
    monkeypatch.setattr(openssh, "HOPS", hops)
    ssh = openssh.arguments("ssh://builder@build-1.example.internal:2222")
    for master in ("", "api-4194304"):
        line = openssh.command(ssh, ["-W", "127.0.0.1:22"], master=master)
        path = next(option.removeprefix("ControlPath=") for option in line if option.startswith("ControlPath="))
        assert path.startswith(str(hops)) and len(path.encode()) < 104, path
    assert openssh.command(ssh, [], master="api-1") != openssh.command(ssh, [], master="api-2")
    assert openssh.command(ssh, [], shared=False) == [
        "ssh",
        "-l",
        "builder",
        "-p",
        "2222",
        "--",
        "build-1.example.internal",
    ]
