"""Concurrent builds of one user on one build host against a registry that
wants a login: the shared ~/.docker breaks the other job's push when one job
logs out, a DOCKER_CONFIG per job does not; the cleanup stage; secrets kept
out of transcripts and reports."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.errors import CommandFailed
from harness.flows.ci_registry import REGISTRY
from harness.flows.ci_registry.builds import ConcurrentBuilds
from harness.result import CommandResult
from tests.e2e.environment import world_snapshot_text

pytestmark = pytest.mark.docker


def at_the_same_time(
    world: ConcurrentBuilds, per_job_config: bool
) -> tuple[dict[int, CommandResult], dict[int, list[str]]]:
    """Jobs 101 (alice) and 102 (bob) of user jenkins, run at the same time in two threads, each stage a
    process as a Jenkins ``sh`` step is: 101 logs in first, then 102; both build; at a barrier between
    login and push both are logged in; 101 pushes and logs out while 102 is between its login and its
    push; then 102 pushes. The results of the two pushes, and whose credentials each job's docker config
    held as it pushed (what its push logs in with: the registry's log does not name the user)."""
    logged_in, logged_out = threading.Event(), threading.Event()
    barrier = threading.Barrier(2, timeout=300)
    pushes: dict[int, CommandResult] = {}
    held: dict[int, list[str]] = {}
    workspace = "/home/jenkins/workspace/job"

    def config(number: int) -> str:
        return f"{workspace}/{number}/.docker/config.json" if per_job_config else "/home/jenkins/.docker/config.json"

    def job_101() -> None:
        try:
            world.job(101, "login", user="alice", per_job_config=per_job_config)
            logged_in.set()
            world.job(101, "build", per_job_config=per_job_config)
            barrier.wait()
            held[101] = logins(world, config(101))
            pushes[101] = world.job(101, "push", per_job_config=per_job_config, check=False)
            world.job(101, "logout", per_job_config=per_job_config)
            logged_out.set()
        except BaseException:
            barrier.abort()  # the other job stops waiting, and fails saying so
            raise

    def job_102() -> None:
        try:
            assert logged_in.wait(300), "job 101 never logged in"
            world.job(102, "login", user="bob", per_job_config=per_job_config)
            world.job(102, "build", per_job_config=per_job_config)
            barrier.wait()
            assert logged_out.wait(300), "job 101 never logged out"
        except BaseException:
            barrier.abort()
            raise
        held[102] = logins(world, config(102))
        pushes[102] = world.job(102, "push", per_job_config=per_job_config, check=False)

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(job_101), pool.submit(job_102)]:
            done.result()
    return pushes, held


def logins(world: ConcurrentBuilds, config: str) -> list[str]:
    """The users whose credentials a docker config.json on the build host holds."""
    auths = json.loads(world.jenkins.run(f"cat {config}", sudo=True).stdout).get("auths", {})
    return sorted(base64.b64decode(entry["auth"]).decode().split(":")[0] for entry in auths.values() if "auth" in entry)


def test_a_shared_docker_config_fails_the_other_jobs_push_on_logout(concurrent_builds: ConcurrentBuilds) -> None:
    pushes, held = at_the_same_time(concurrent_builds, per_job_config=False)
    assert pushes[101].ok, pushes[101].stderr
    assert held[101] == ["bob"], "job 101 (alice's) silently pushed with bob's login: the last one wins"
    pushed = pushes[102]
    assert not pushed.ok, "job 101's logout erased the credentials job 102 logged in with"
    assert re.search(r"no basic auth credentials|unauthorized|authentication required", pushed.stderr), pushed.stderr
    assert logins(concurrent_builds, "/home/jenkins/.docker/config.json") == []


def test_a_docker_config_per_job_keeps_each_jobs_login(concurrent_builds: ConcurrentBuilds) -> None:
    world = concurrent_builds
    pushes, held = at_the_same_time(world, per_job_config=True)
    pushed = pushes[102]
    assert pushes[101].ok and pushed.ok and pushed.stdout == f"job 102: pushed {REGISTRY}/team/job:102\n", pushed.stderr
    assert held == {101: ["alice"], 102: ["bob"]}, "each job pushed with its own login"
    workspace = "/home/jenkins/workspace/job"
    assert logins(world, f"{workspace}/101/.docker/config.json") == [], "101 logged out of its own config"
    assert logins(world, f"{workspace}/102/.docker/config.json") == ["bob"], "only bob's, never alice's"
    mode = world.jenkins.run(
        f"stat -c '%a %U' {workspace}/102/.docker {workspace}/102/.docker/config.json", sudo=True
    ).stdout
    assert mode.split("\n")[:2] == ["700 jenkins", "600 jenkins"]
    tags = world.registry.run(
        "docker exec registry ls /var/lib/registry/docker/registry/v2/repositories/team/job/_manifests/tags"
    )
    assert tags.stdout.split() == ["101", "102"]


def test_secrets_never_show_in_results_transcripts_or_reports(concurrent_builds: ConcurrentBuilds) -> None:
    world, password = concurrent_builds, concurrent_builds.passwords["alice"]
    world.job(103, "login", user="alice", per_job_config=True)
    echoed = world.jenkins.run("cat", stdin=[password.encode()])
    assert echoed.stdout == "[secret]", "a secret the world marked is redacted in results"
    with pytest.raises(CommandFailed) as failed:
        world.jenkins.run("cat >&2; exit 3", stdin=[password.encode()])
    assert "[secret]" in str(failed.value) and password not in str(failed.value)
    mine = "s3cr3t-" + password[:6]
    assert world.registry.run(f"echo {mine}", secret=[mine]).stdout == "[secret]\n"
    for vps in world.hosts.values():
        shown = vps.report()  # its transcript of commands, journal and console
        assert all(secret not in shown for secret in [*world.passwords.values(), mine])
    assert "echo [secret]" in world.registry.report()
    if world.snapshot_key:  # a copy (the default; --vps-snapshots=off provisions afresh)
        shown = world_snapshot_text(world.jenkins.client, world.snapshot_key)
        assert all(password not in shown for password in world.passwords.values()), "no password in an image"


def old_image(tag: str, arch: str, created: str = "2015-06-01T00:00:00Z") -> bytes:
    """A ``docker load`` archive (docker save's classic layout) of a one-layer image built at ``created``."""

    def tar_of(files: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1433116800
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()

    layer = tar_of({"etc/built-in-2015": b"an image built long ago\n"})
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": created,
            "config": {"Cmd": ["true"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    return tar_of({config_name: config, "layer/layer.tar": layer, "manifest.json": manifest})


def test_the_cleanup_stage_prunes_by_build_time_and_logs_out(concurrent_builds: ConcurrentBuilds) -> None:
    world, jenkins = concurrent_builds, concurrent_builds.jenkins
    old, fresh = f"{REGISTRY}/team/job:103", f"{REGISTRY}/team/job:104"
    arch = jenkins.run("docker version -f '{{.Server.Arch}}'").stdout.strip()
    jenkins.run("docker load >/dev/null", stdin=[old_image(old, arch)])
    world.job(103, "login", user="alice", per_job_config=False)
    world.job(103, "push", per_job_config=False)
    jenkins.run(f"docker rmi {old} >/dev/null")
    world.job(103, "pull", per_job_config=False)  # pulled a moment ago, built in 2015
    world.job(104, "build", per_job_config=False)
    jenkins.run("docker rm $(docker create -v /cache " + world.os.registry_ref + " true) >/dev/null")
    jenkins.run("docker volume create job-cache >/dev/null")  # a named volume no container uses
    dangling = set(jenkins.run("docker volume ls -q -f dangling=true").stdout.split())
    assert "job-cache" in dangling and len(dangling) >= 2, "an anonymous and a named volume no container uses"

    assert world.job(103, "cleanup", per_job_config=False).stdout == "job 103: cleaned up\n"
    present = jenkins.run("docker images --format '{{.Repository}}:{{.Tag}}'").stdout.split()
    assert old not in present, "until=2h compares build time: the image pulled a moment ago went"
    assert fresh in present, "built a moment ago: kept"
    assert jenkins.run("docker volume ls -q -f dangling=true").stdout == "", "the write-up's ls | xargs rm: named too"
    assert logins(world, "/home/jenkins/.docker/config.json") == []

    # What `docker volume prune` would have done instead: from Docker 23 (API 1.42) anonymous volumes only.
    jenkins.run("docker volume create job-cache >/dev/null && docker volume prune -f >/dev/null")
    left = jenkins.run("docker volume ls -q").stdout.split()
    if int(jenkins.run("docker version -f '{{.Server.Version}}'").stdout.split(".")[0]) >= 23:
        assert left == ["job-cache"], "volume prune keeps named volumes from Docker 23 on"
    else:
        assert left == [], "before Docker 23, volume prune removes named volumes too"
