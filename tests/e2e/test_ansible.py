"""Outside tools reach a VPS as they reach a real server: ansible-playbook over OpenSSH with the VPS's ssh_config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.vps import Vps

pytestmark = pytest.mark.docker

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

PLAYBOOK = """\
- hosts: all
  become: true
  gather_facts: false
  tasks:
    - name: cron is installed
      package:
        name: {package}
        state: present
    - name: the deploy user exists
      user:
        name: deploy
        shell: /bin/bash
    - name: the app's config is in place
      copy:
        dest: /etc/app.conf
        content: "listen = 8080\\n"
        owner: deploy
        mode: "0640"
    - name: cron runs now and at boot
      service:
        name: {service}
        state: started
        enabled: true
"""
#: The cron daemon's package and unit on each package family.
CRON = {"apt": ("cron", "cron"), "rpm": ("cronie", "crond")}


@pytest.fixture
def ansible_home() -> Iterator[Path]:
    """Ansible's own state, kept short: its ControlPath sockets must fit in 108 bytes."""
    home = Path(tempfile.mkdtemp(prefix="ans-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def playbook(vps: Vps, config: Path, folder: Path, home: Path) -> str:
    """One ansible-playbook run against ``vps``, as a user writes the inventory (see the README)."""
    (folder / "inventory").write_text(f"{vps.ssh_alias} ansible_ssh_common_args='-F {config}'\n")
    package, service = CRON[vps.os.package_family]
    (folder / "site.yml").write_text(PLAYBOOK.format(package=package, service=service))
    env = {
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(home / "cp"),
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_NOCOLOR": "1",
    }
    run = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventory", "site.yml"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def recap(output: str, vps: Vps) -> dict[str, int]:
    line = re.search(rf"^{re.escape(vps.ssh_alias)}\s+:\s+(.*)$", output, re.M)
    assert line, output
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def test_a_playbook_converges_is_idempotent_and_survives_a_reboot(
    vps: Vps, vps_ssh_config: Callable[[], Path], tmp_path: Path, ansible_home: Path
) -> None:
    first = recap(playbook(vps, vps_ssh_config(), tmp_path, ansible_home), vps)
    assert first["failed"] == 0 and first["changed"] >= 3, first
    second = recap(playbook(vps, vps_ssh_config(), tmp_path, ansible_home), vps)
    assert (second["changed"], second["failed"], second["ok"]) == (0, 0, 4), second
    vps.restart()
    service = CRON[vps.os.package_family][1]
    assert vps.run(f"systemctl is-active {service}; systemctl is-enabled {service}").stdout == "active\nenabled\n"
    assert vps.run("id -un deploy").stdout == "deploy\n"
    assert vps.run("stat -c '%U %a' /etc/app.conf").stdout == "deploy 640\n"
    assert vps.read_text("/etc/app.conf") == "listen = 8080\n"
    # The config is written again after a reboot (its published port may move): still nothing to change.
    third = recap(playbook(vps, vps_ssh_config(), tmp_path, ansible_home), vps)
    assert third["changed"] == 0, third
