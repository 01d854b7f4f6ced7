"""The CI-registry flow, end to end, on each OS of the matrix: build on the
build host, push to the private registry, production pulls and swaps; and the
registry-less ways of carrying an image over SSH."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from harness.flows.ci_registry import REGISTRY, CiRegistry

pytestmark = pytest.mark.docker

WEBAPP = f"{REGISTRY}/team/webapp"


def webapp_containers(world: CiRegistry) -> list[str]:
    """``IMAGE NAME`` of each running container on production made from a webapp image."""
    lines = world.production.run("docker ps --format '{{.Image}} {{.Names}}'").stdout.splitlines()
    return [line for line in lines if "webapp" in line]


def test_the_pipeline_builds_pushes_and_swaps_production(ci_registry: CiRegistry) -> None:
    world = ci_registry
    assert world.pipeline("build.sh", "1").stdout == f"build: pushed {WEBAPP}:1\n"
    world.pipeline("deploy.sh", "1")
    assert world.page() == "webapp 1\n"

    world.pipeline("build.sh", "2")
    assert world.pipeline("deploy.sh", "2").stdout == f"webapp-deploy: webapp runs {WEBAPP}:2\n"
    assert world.page() == "webapp 2\n"
    assert webapp_containers(world) == [f"{WEBAPP}:2 webapp"], "the old container is gone, one runs"
    tags = json.loads(world.registry.run("curl -fsS http://localhost:5000/v2/team/webapp/tags/list").stdout)
    assert sorted(tags["tags"]) == ["1", "2"]
    # As root: Ubuntu from 21.04 makes homes 0750 (HOME_MODE), closed to the harness's user.
    owner = world.jenkins.run("stat -c %U /home/jenkins/workspace/webapp/Dockerfile", sudo=True).stdout
    assert owner == "jenkins\n", "the job ran as jenkins"

    # An engine not told about the plain-HTTP registry speaks HTTPS to it: the registry host's own.
    base = world.os.registry_ref
    world.registry.run(f"docker tag {base} {REGISTRY}/team/base:1")
    refused = world.registry.run(f"docker push {REGISTRY}/team/base:1", check=False, timeout=120)
    assert not refused.ok and "server gave HTTP response to HTTPS client" in refused.stderr, refused.stderr

    again = world.apply()
    assert [(step.host, step.script, step.changed) for step in again if step.changed] == []


def test_without_a_registry_images_travel_over_ssh(ci_registry: CiRegistry) -> None:
    world = ci_registry
    world.pipeline("build.sh", "3")
    world.pipeline("ship.sh", "save", "3")
    assert world.page() == "webapp 3\n", "docker save | ssh docker load keeps the image as built"
    assert webapp_containers(world) == ["webapp:3 webapp"]

    exported = world.pipeline("ship.sh", "export", "3", check=False)
    assert not exported.ok and "no command specified" in exported.stderr.lower(), exported.stderr
    config = world.production.run("docker image inspect -f '{{json .Config.Cmd}} {{json .Config.Env}}' webapp:3-export")
    assert config.stdout.startswith("null "), "docker export | docker import keeps files, not CMD"
    assert "WEBAPP_VERSION" not in config.stdout, "nor ENV"
    assert webapp_containers(world) == [], "webapp-deploy removed the old container before the new one failed"

    world.pipeline("ship.sh", "export-change", "3")
    assert world.page() == "webapp 3\n", "import --change gives back CMD and ENV"
    assert webapp_containers(world) == ["webapp:3-export-change webapp"]


def test_a_version_or_command_with_shell_syntax_deploys_nothing_and_says_why(ci_registry: CiRegistry) -> None:
    world = ci_registry
    world.pipeline("build.sh", "4")
    world.pipeline("deploy.sh", "4")
    marker = "/tmp/pwned"
    for version in (f"4; touch {marker}", f"$(touch {marker})", f"4 `touch {marker}`"):
        refused = world.pipeline("deploy.sh", version, check=False)
        assert refused.exit_status == 2, refused
        assert (
            refused.stderr == f"deploy.sh: not a version (a Docker tag: letters, digits, _ . -, up to 128): {version}\n"
        )
    # The deploy key itself: production's forced command takes its words, runs nothing else.
    for command in (f"deploy {WEBAPP}:4;touch${{IFS}}{marker}", f"sh -c 'touch {marker}'", f"touch {marker}"):
        said = world.jenkins.run(
            f"ssh -o BatchMode=yes deploy@production {shlex.quote(command)}", user="jenkins", check=False
        )
        assert said.exit_status == 2 and said.stderr.startswith("webapp-deploy: not "), said
    shell = world.jenkins.run("ssh -o BatchMode=yes -T deploy@production", user="jenkins", check=False, timeout=30)
    assert "not a command of this account: (none)" in shell.stdout + shell.stderr, "no shell for the deploy key"
    for host in (world.production, world.jenkins):
        assert not host.run(f"test -e {marker}", check=False).ok, f"nothing ran on {host.name}"
    assert world.page() == "webapp 4\n", "the deployed version still runs"


def test_chained_images_each_from_the_previous_tag_in_the_registry(ci_registry: CiRegistry) -> None:
    world = ci_registry
    said = world.pipeline("chain.sh", timeout=600).stdout.splitlines()
    base = f"{REGISTRY}/team/base:imported"
    assert said[0] == f"chain: base imported from a tar, pushed as {base}"
    froms = [base] + [f"{REGISTRY}/team/chain-{n:02d}:1" for n in range(1, 4)]
    assert said[1:] == [f"chain: {REGISTRY}/team/chain-{n:02d}:1 FROM {froms[n - 1]}, pushed" for n in range(1, 5)]
    last = f"{REGISTRY}/team/chain-04:1"
    assert world.production.run(f"docker run --rm {last} cat /etc/chain", timeout=120).stdout == "01\n02\n03\n04\n"
    imported = world.production.run(f"docker history --format '{{{{.CreatedBy}}}}' {last}").stdout.splitlines()
    assert len(imported) == 5 and imported[-1] == "", "four RUN layers on one imported layer (no history of its own)"
    catalog = json.loads(world.registry.run("curl -fsS http://localhost:5000/v2/_catalog").stdout)["repositories"]
    assert {"team/base", *(f"team/chain-{n:02d}" for n in range(1, 5))} <= set(catalog)

    # No registry on :5000 of the build host itself: the engine's own error.
    world.jenkins.run(f"docker tag {world.os.registry_ref} localhost:5000/team/nowhere:1")
    refused = world.jenkins.run("docker push localhost:5000/team/nowhere:1", check=False, timeout=120)
    assert not refused.ok and re.search(r"connect: connection refused", refused.stderr), refused.stderr
