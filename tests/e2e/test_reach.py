"""How a VPS is reached, for the harness and for outside tools, on published and jumped VPSes alike."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from docker.models.networks import Network

from harness.ssh import KeyPair
from harness.state import SETTINGS
from harness.vps import Vps

pytestmark = pytest.mark.docker


def openssh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """An outside tool's run: no terminal, no prompts (a host-key question fails instead)."""
    return subprocess.run(
        list(args), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
    )


@pytest.fixture
def jumped(vps_factory: Callable[..., Vps], vps_network: Callable[..., Network]) -> tuple[Vps, Vps]:
    """A bastion with a published port and a VPS without one, reached through it."""
    net = vps_network()
    bastion = vps_factory(name="bastion", networks=[net])
    inner = vps_factory(name="inner", networks=[net], publish_ssh=False)
    return bastion, bastion.jump_to(inner)


def test_a_jumped_vps_has_one_route_for_session_ssh_line_known_hosts_and_testinfra(jumped: tuple[Vps, Vps]) -> None:
    bastion, inner = jumped
    route = inner.route
    assert (route.address, route.port, route.bastion) == (bastion.cables.shared_ip(inner.cables), 22, bastion.route)
    assert route.bastion is not None and route.bastion.address == "127.0.0.1"
    # The harness's own session rides the bastion.
    client_ip, _, server_ip, server_port = inner.run("echo $SSH_CONNECTION").stdout.split()
    assert (client_ip, server_ip, server_port) == (bastion.ip, route.address, "22")
    # The ssh line, with the host key pinned along both hops.
    assert "StrictHostKeyChecking=yes" in inner.ssh_command()
    answer = openssh(*shlex.split(inner.ssh_command()), "-o", "BatchMode=yes", "hostname")
    assert answer.stdout == "inner\n", answer.stderr
    # known_hosts pins the address it is reached at, and nothing else.
    assert inner.known_hosts_file.read_text() == f"{route.address} {' '.join(inner.host_key.split()[:2])}\n"
    # testinfra, on the harness's pinned connection through the bastion.
    assert inner.host.check_output("hostname") == "inner"
    assert inner.host.file("/etc/ssh/sshd_config").exists
    assert inner.host.service("ssh" if inner.os.package_family == "apt" else "sshd").is_running


def test_a_changed_host_key_is_refused_by_openssh_along_the_route(jumped: tuple[Vps, Vps]) -> None:
    _, inner = jumped
    line = inner.ssh_command()
    impostor = KeyPair.generate().public.split()[:2]
    inner.known_hosts_file.write_text(f"{inner.route.address} {' '.join(impostor)}\n")
    refused = openssh(*shlex.split(line), "-o", "BatchMode=yes", "true")
    assert refused.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr


def test_the_report_of_a_jumped_vps_says_how_to_reach_it(jumped: tuple[Vps, Vps]) -> None:
    _, inner = jumped
    inner.run("echo marker-for-the-report", check=False)
    text = inner.report()
    reach = next(line for line in text.splitlines() if line.startswith("reach it: "))
    answer = openssh(*shlex.split(reach.removeprefix("reach it: ")), "-o", "BatchMode=yes", "hostname")
    assert answer.stdout == "inner\n", answer.stderr
    assert "$ echo marker-for-the-report" in text and "--- journal (last 200 lines) ---" in text


def test_key_file_and_known_hosts_are_private_files(vps: Vps) -> None:
    assert stat.S_IMODE(vps.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(vps.key_file.parent.stat().st_mode) == 0o700
    assert vps.key_file.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert vps.known_hosts_file.read_text().startswith(f"[127.0.0.1]:{vps.ssh_port} ssh-ed25519 ")
    assert vps.known_hosts_file.parent == vps.key_file.parent


def test_ssh_config_reaches_every_vps_by_its_alias_and_the_alias_is_unique(
    vps_factory: Callable[..., Vps],
    vps_network: Callable[..., Network],
    vps_ssh_config: Callable[[], Path],
    pytestconfig: pytest.Config,
) -> None:
    net = vps_network()
    twins = [vps_factory(name="twin", networks=[net]), vps_factory(name="twin", networks=[net])]
    behind = twins[0].jump_to(vps_factory(name="behind", networks=[net], publish_ssh=False))
    for number, twin in enumerate(twins):
        twin.put_text(f"{number}\n", "/etc/twin-number")
    aliases = [twin.ssh_alias for twin in twins]
    assert len(set(aliases)) == 2 and all(alias.startswith("vps-twin-") for alias in aliases)
    session = pytestconfig.stash[SETTINGS].session
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    assert all(alias.startswith(f"vps-twin-{session}{'-' + worker if worker else ''}-") for alias in aliases), (
        "unique across runs (session) and xdist workers"
    )
    cfg = vps_ssh_config()
    text = cfg.read_text()
    assert text.count("\nHost ") + text.startswith("Host ") == 3
    assert f"Host {behind.ssh_alias}\n" in text and "ProxyCommand ssh -F /dev/null" in text
    for number, alias in enumerate(aliases):
        answer = openssh("ssh", "-F", str(cfg), "-o", "BatchMode=yes", alias, "cat /etc/twin-number")
        assert answer.stdout == f"{number}\n", answer.stderr
    answer = openssh("ssh", "-F", str(cfg), "-o", "BatchMode=yes", behind.ssh_alias, "hostname")
    assert answer.stdout == "behind\n", answer.stderr


def test_scp_and_rsync_carry_a_tree_to_a_jumped_vps(
    jumped: tuple[Vps, Vps], vps_ssh_config: Callable[[], Path], tmp_path: Path
) -> None:
    _, inner = jumped
    tree = tmp_path / "site"
    (tree / "conf.d").mkdir(parents=True)
    (tree / "index.html").write_text("<h1>hello</h1>\n")
    (tree / "conf.d" / "app.conf").write_text("listen 8080;\n")
    (tree / "run.sh").write_text("#!/bin/sh\necho run\n")
    (tree / "run.sh").chmod(0o755)
    cfg = str(vps_ssh_config())
    copied = openssh("scp", "-F", cfg, "-o", "BatchMode=yes", "-r", str(tree), f"{inner.ssh_alias}:/tmp/by-scp")
    assert copied.returncode == 0, copied.stderr
    ssh = f"ssh -F {cfg} -o BatchMode=yes"
    synced = openssh("rsync", "-a", "-e", ssh, f"{tree}/", f"{inner.ssh_alias}:/tmp/by-rsync/")
    assert synced.returncode == 0, synced.stderr
    for target in ("/tmp/by-scp", "/tmp/by-rsync"):
        assert inner.read_text(f"{target}/conf.d/app.conf") == "listen 8080;\n"
        assert inner.run(f"{target}/run.sh").stdout == "run\n", "the executable bit came along"
    (tree / "index.html").write_text("<h1>changed</h1>\n")
    again = openssh("rsync", "-a", "--itemize-changes", "-e", ssh, f"{tree}/", f"{inner.ssh_alias}:/tmp/by-rsync/")
    assert again.returncode == 0, again.stderr
    assert [line.split()[-1] for line in again.stdout.splitlines()] == ["index.html"], "rsync sent only the change"
