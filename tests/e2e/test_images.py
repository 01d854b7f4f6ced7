"""Base and VPS images, made for real on the Docker engine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

import vps_images
from harness import engine
from harness.images import Images
from harness.launch import run_options
from harness.spec import OsSpec

pytestmark = pytest.mark.docker


def run_script(client: docker.DockerClient, image: str, script: str, labels: dict[str, str]) -> str:
    """Run ``script`` with sh in a throwaway container of ``image``; its output."""
    output = client.containers.run(image, ["sh", "-c", script], remove=True, labels=labels, stderr=True)
    return output.decode()


def os_release(client: docker.DockerClient, image: str, labels: dict[str, str]) -> dict[str, str]:
    text = run_script(client, image, "cat /etc/os-release", labels)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def assert_is_release(fields: dict[str, str], spec: OsSpec) -> None:
    assert fields["ID"] == spec.family
    assert fields["VERSION_ID"].strip('"') == spec.version


def test_base_image_is_the_release(vps_images: Images, spec: OsSpec, session_labels: dict[str, str]) -> None:
    base = vps_images.base(spec)
    assert_is_release(os_release(vps_images.client, base.id, session_labels), spec)


def test_fresh_bootstrap_yields_the_release(vps_images: Images, spec: OsSpec, session_labels: dict[str, str]) -> None:
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed on this machine, so no base can be bootstrapped here")
    reference = f"vps-harness/base-test:{spec.id}-{uuid.uuid4().hex[:8]}"
    image = vps_images.bases.bootstrap(spec, reference)
    try:
        assert image.labels["vps-harness.image"] == "base"
        assert image.labels["vps-harness.spec"] == str(spec)
        assert_is_release(os_release(vps_images.client, image.id, session_labels), spec)
    finally:
        vps_images.client.images.remove(image.id, force=True)


def test_vps_image_has_sshd_sudo_user_systemd_and_docker(
    vps_images: Images, spec: OsSpec, session_labels: dict[str, str]
) -> None:
    image = vps_images.vps(spec)
    facts = run_script(
        vps_images.client,
        image.tag,
        """
        /usr/local/sbin/vps-sshd-keys
        /usr/sbin/sshd -t && echo sshd-config-ok
        /usr/sbin/sshd -T | grep -E '^(passwordauthentication|permitrootlogin|pubkeyauthentication) '
        echo "groups: $(id -nG vps)"
        su -s /bin/sh vps -c 'sudo -n id -u' | sed 's/^/sudo-uid: /'
        echo "init: $(readlink -f /sbin/init)"
        docker --version >/dev/null && echo docker-cli-ok
        echo "docker.service: $(systemctl is-enabled docker.service)"
        echo "ssh.service: $(systemctl is-enabled ssh.service)"
        """,
        session_labels,
    )
    assert "sshd-config-ok" in facts
    assert "passwordauthentication no" in facts
    assert "pubkeyauthentication yes" in facts
    assert any(line in facts for line in ("permitrootlogin without-password", "permitrootlogin prohibit-password"))
    groups = facts.split("groups: ", 1)[1].split("\n", 1)[0].split()
    assert {"vps", "sudo", "docker"} <= set(groups)
    assert "sudo-uid: 0" in facts
    assert "init: /lib/systemd/systemd" in facts or "init: /usr/lib/systemd/systemd" in facts
    assert "docker-cli-ok" in facts
    assert "docker.service: disabled" in facts
    assert "ssh.service: enabled" in facts


def test_vps_image_boots_systemd_to_running_with_sshd(
    vps_images: Images, spec: OsSpec, session_labels: dict[str, str]
) -> None:
    image = vps_images.vps(spec)
    container = vps_images.client.containers.run(
        image.tag,
        detach=True,
        labels=session_labels,
        **run_options(
            "systemd",
            engine.cgroup_version(vps_images.client),
            engine.facts(vps_images.client).all_caps_are_its_own,
        ),
    )
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            container.reload()
            assert container.status == "running", container.logs().decode()[-2000:]
            state = container.exec_run(["systemctl", "is-system-running"]).output.decode().strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        failed = container.exec_run(["systemctl", "--failed", "--no-legend"]).output.decode()
        assert state == "running", f"systemd is {state!r}; failed units:\n{failed}"
        assert container.exec_run(["systemctl", "is-active", "ssh"]).output.decode().strip() == "active"
        assert container.exec_run(["systemctl", "is-active", "docker"]).output.decode().strip() == "inactive"
    finally:
        container.remove(force=True)


def test_cache_hit_does_not_rebuild(vps_images: Images, spec: OsSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    first = vps_images.vps(spec)

    def no_build(**_: object) -> None:
        raise AssertionError("a cached VPS image was built again")

    monkeypatch.setattr(vps_images.client.api, "build", no_build)
    again = vps_images.vps(spec)
    assert not again.built
    assert (again.tag, again.image_id) == (first.tag, first.image_id)


BUILDER = """
import json, sys
from pathlib import Path
from harness import Images, docker_client, parse_spec
image = Images(docker_client(), recipes=Path(sys.argv[2])).vps(parse_spec(sys.argv[1]))
print(json.dumps({"built": image.built, "id": image.image_id, "tag": image.tag}))
"""


def test_two_concurrent_builders_of_one_spec_build_once(vps_images: Images, spec: OsSpec, tmp_path: Path) -> None:
    vps_images.vps(spec)  # the base and the package layers exist; the race is over a new tag
    recipes = tmp_path / "recipes"
    shutil.copytree(vps_images.recipes, recipes)
    (recipes / spec.package_family / "race-marker").write_text(uuid.uuid4().hex)
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", BUILDER, str(spec), str(recipes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for builder in builders:
        out, err = builder.communicate(timeout=600)
        assert builder.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    try:
        assert sorted(r["built"] for r in results) == [False, True], results
        assert results[0]["id"] == results[1]["id"]
        assert results[0]["tag"] != vps_images.vps(spec).tag
    finally:
        vps_images.client.images.remove(results[0]["tag"], force=True)


def test_cli_second_build_is_a_cache_hit_and_ls_shows_it(vps_images: Images, spec: OsSpec) -> None:
    image = vps_images.vps(spec)
    cli = Path(sys.executable).with_name("vps-harness")
    command = [str(cli), "images", "build", "--dind", str(spec)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    build = subprocess.run(command, capture_output=True, text=True, timeout=600)
    (plain, dind) = [line.split("\t") for line in build.stdout.splitlines()]
    assert plain[:2] == [str(spec), image.tag] and plain[2].startswith("cached in ")
    assert dind[1].startswith(f"vps-harness/vps:{spec.id}-dind-") and dind[2].startswith("cached in ")
    listing = subprocess.run([str(cli), "images", "ls"], capture_output=True, text=True, timeout=60)
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert any(row[:3] == [str(spec), "vps", image.tag] and row[-1] == "yes" for row in rows)
    assert any(row[:3] == [str(spec), "dind", dind[1]] and row[-1] == "yes" for row in rows)


def test_recipes_ship_for_both_package_families() -> None:
    assert (vps_images.ROOT / "apt" / "Dockerfile").is_file()
    assert (vps_images.ROOT / "rpm" / "Dockerfile").is_file()
