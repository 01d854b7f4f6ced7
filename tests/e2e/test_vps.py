"""The `vps` fixture end to end: real containers reached over SSH."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from harness.errors import CommandFailed, CommandTimeout, HostKeyMismatch
from harness.ssh import KeyPair, SshSession
from harness.vps import Vps
from harness.waiting import wait_for

pytestmark = pytest.mark.docker


def test_run_reports_status_output_and_duration(vps: Vps) -> None:
    result = vps.run("echo out; echo err >&2; exit 3", check=False)
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    slept = vps.run("sleep 0.3")
    assert slept.duration >= 0.3, "the duration covers the command's run on the VPS"
    with pytest.raises(CommandFailed) as caught:
        vps.run("echo boom >&2; exit 4")
    assert caught.value.result.exit_status == 4
    assert "exited 4" in str(caught.value) and "boom" in str(caught.value)


def test_identity_sudo_user_and_env(vps: Vps) -> None:
    assert vps.run("id -un").stdout.strip() == vps.user == "vps"
    assert vps.run("id -un", sudo=True).stdout.strip() == "root"
    assert vps.run("id -un", user="nobody").stdout.strip() == "nobody"
    assert vps.run('echo "$GREETING"', env={"GREETING": "hi there; $x"}).stdout == "hi there; $x\n"
    assert vps.run("hostname").stdout.strip() == vps.name
    os_release = vps.read_text("/etc/os-release")
    assert f'VERSION_ID="{vps.os.version}"' in os_release


def test_systemd_is_running_and_a_service_can_be_enabled(vps: Vps) -> None:
    assert vps.run("systemctl is-system-running").stdout.strip() == "running"
    vps.put_text(
        "[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n",
        "/etc/systemd/system/probe.service",
    )
    vps.run("systemctl daemon-reload && systemctl enable --now probe.service", sudo=True)
    assert vps.host.service("probe").is_running
    assert vps.host.service("probe").is_enabled
    assert vps.host.user("vps").exists
    assert vps.host.package("openssh-server").is_installed


def test_put_and_get_binary_content_and_paths_with_spaces(vps: Vps, tmp_path: Path) -> None:
    blob = os.urandom(256 * 1024) + bytes(range(256))
    local = tmp_path / "a blob.bin"
    local.write_bytes(blob)
    vps.run("mkdir -p '/srv/dir with space'", sudo=True)
    vps.put(local, "/srv/dir with space/the blob.bin", mode=0o640)
    assert vps.mode_of("/srv/dir with space/the blob.bin") == 0o640
    assert vps.run("cat '/srv/dir with space/the blob.bin'", check=False).exit_status == 1  # 0640, root's
    digest = vps.run("sha256sum '/srv/dir with space/the blob.bin'", sudo=True).stdout.split()[0]
    assert digest == hashlib.sha256(blob).hexdigest()
    back = tmp_path / "back again.bin"
    vps.get("/srv/dir with space/the blob.bin", back)
    assert back.read_bytes() == blob


def test_large_output_arrives_intact(vps: Vps) -> None:
    result = vps.run("head -c 10485760 /dev/zero | tr '\\0' 'x'; echo; echo done >&2")
    assert len(result.stdout) == 10 * 1024 * 1024 + 1
    assert set(result.stdout[:-1]) == {"x"}
    assert result.stderr == "done\n"


def test_timeout_raises_and_leaves_the_connection_usable(vps: Vps) -> None:
    with pytest.raises(CommandTimeout, match="did not finish within 0.5 s"):
        vps.run("sleep 30", timeout=0.5)
    assert vps.run("echo still here").stdout == "still here\n"


def test_restart_keeps_files_and_reconnects(vps: Vps) -> None:
    vps.put_text("kept\n", "/root/marker")
    boot_before = vps.run("cat /proc/sys/kernel/random/boot_id; cat /proc/1/stat | cut -d' ' -f22").stdout
    vps.restart()
    assert vps.read_text("/root/marker") == "kept\n"
    assert vps.run("cat /proc/1/stat | cut -d' ' -f22").stdout != boot_before.splitlines()[1] + "\n"
    assert vps.run("systemctl is-system-running").stdout.strip() == "running"


def test_neither_pid_1_nor_a_login_sees_how_the_keys_came_in(vps: Vps) -> None:
    """A bind mount on a local engine, the container's create request on an engine elsewhere (its environment,
    unpacked before the init): either way the VPS's processes see a server's environment, and the host key
    stays across a restart."""
    pinned = vps.host_key.split()[:2]
    for restarted in (False, True):
        if restarted:
            vps.restart()
        assert "VPS_HARNESS" not in vps.run("tr '\\0' '\\n' </proc/1/environ", sudo=True).stdout
        assert "VPS_HARNESS" not in vps.run("env").stdout
        assert vps.run("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2] == pinned


def test_a_changed_host_key_is_refused(vps: Vps) -> None:
    impostor = KeyPair.generate().public
    route = vps.route  # 127.0.0.1 for a local engine; an engine elsewhere's host, or a hop through it
    via = vps.connections.reach.channel if route.proxy else None
    session = SshSession(route.address, route.port, vps.user, vps.key, impostor, via=via)
    with pytest.raises(HostKeyMismatch, match="not the ssh-ed25519 key the harness pinned"):
        session.connect()


def test_docker_logs_are_the_console_with_the_journal(vps: Vps) -> None:
    vps.run("logger -t probe 'seen on the console'")
    line = wait_for(
        lambda: next((x for x in vps.logs().splitlines() if "seen on the console" in x), None),
        timeout=10,
        what="the logger line on the console",
    )
    assert "probe" in line and "\r" not in line
    assert "Welcome to" in vps.logs(tail=1000)


@pytest.mark.vps(init="sshd")
def test_sshd_as_pid_1(vps: Vps) -> None:
    assert vps.run("cat /proc/1/comm").stdout.strip() == "sshd"
    assert vps.run("id -un", sudo=True).stdout.strip() == "root"
    assert "Accepted publickey for vps" in vps.logs()


def test_factory_starts_several_on_a_private_network(vps_factory, vps_network) -> None:  # type: ignore[no-untyped-def]
    net = vps_network()
    a = vps_factory(name="alpha", networks=[net])
    b = vps_factory(name="beta", networks=[net], aliases=["db.internal"])
    assert a.run("getent hosts db.internal").stdout.split()[0] == b.ip
    assert b.run("getent hosts alpha").stdout.split()[0] == a.ip


def test_put_makes_missing_parents_and_sets_owner_and_mode(vps: Vps, tmp_path: Path) -> None:
    local = tmp_path / "app.conf"
    local.write_text("port = 8080\n")
    vps.put(local, "/srv/new/deeper/app.conf", mode=0o640, owner="vps:vps")
    vps.put_text("FROM scratch\n", "/srv/app/Dockerfile")
    assert vps.run("stat -c '%U:%G %a' /srv/new/deeper/app.conf").stdout == "vps:vps 640\n"
    assert vps.run("stat -c '%U %a' /srv/new /srv/new/deeper").stdout == "root 755\nroot 755\n"
    assert vps.run("cd /srv/app && cat Dockerfile").stdout == "FROM scratch\n"
    vps.put_text("x\n", "relative/file.txt", owner="nobody")
    assert vps.run("stat -c %U /root/relative/file.txt", sudo=True).stdout == "nobody\n", "relative to root's home"


def test_a_file_error_names_the_remote_path_and_keeps_its_type(vps: Vps, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        vps.read_text("/no/such/file")
    assert "/no/such/file" in str(caught.value) and vps.name in str(caught.value)
    with pytest.raises(FileNotFoundError, match="/etc/missing.conf"):
        vps.get("/etc/missing.conf", tmp_path / "x")
    vps.put_text("a file, not a directory\n", "/srv/plain")
    with pytest.raises(OSError, match="/srv/plain/child"):
        vps.put_text("x", "/srv/plain/child")
