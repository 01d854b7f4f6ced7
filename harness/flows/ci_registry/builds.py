"""The concurrent-builds flow: two jobs of one user on one build host, each
logging in to a registry that wants a login, building and pushing, with the
shared ``~/.docker`` or a ``DOCKER_CONFIG`` per job.

Two VPSes of one OS on one private network, each with its own engine::

    jenkins (build host; user jenkins)  --docker login/push/pull-->  registry.local:5000
      job 101 (alice), job 102 (bob): pipeline/job.sh STAGE         registry:2, htpasswd (bcrypt, cost 4)

The pieces are the CI-registry flow's (``scripts/registry.sh`` with
``inputs/users``, ``engine.sh``, ``jenkins.sh``, the webapp); the jobs'
stages are ``pipeline/job.sh``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from docker.models.networks import Network

from harness import CommandResult, Fleet, OsSpec, VpsWant
from harness.flows.ci_registry import REGISTRY, SCRIPTS, BuildHost, engines
from harness.flows.world import Step, at_once, provision_world

#: The registry's accounts, one per job of the test (their passwords are made per world).
USERS = ("alice", "bob")
ROLES = {
    "registry": f"{REGISTRY}: registry:2 on this host's engine, plain HTTP, htpasswd users {', '.join(USERS)}",
    "jenkins": "the build host: user jenkins (the Jenkins master's SSH agent), its own engine; pipeline/job.sh",
}


@dataclass
class ConcurrentBuilds(BuildHost):
    """The provisioned world: ``registry`` and ``jenkins`` (:class:`~harness.vps.Vps`), and ``passwords``."""

    FLOW = "concurrent-builds"
    ROLES = ROLES

    @classmethod
    def wanted(cls, fleet: Fleet, spec: OsSpec, variant: str, networks: dict[str, Network]) -> dict[str, VpsWant]:
        return engines(fleet, spec, networks["private"])

    #: The registry's users and their passwords: secrets, never shown in transcripts or reports.
    passwords: dict[str, str] = field(default_factory=lambda: {user: secrets.token_urlsafe(12) for user in USERS})

    def job(
        self, number: int, stage: str, *args: str, user: str = "", per_job_config: bool, check: bool = True
    ) -> CommandResult:
        """Stage ``stage`` of job ``number`` (``pipeline/job.sh``), as jenkins over SSH; ``login`` logs
        in as ``user`` with its password on stdin. ``per_job_config``: the job's own DOCKER_CONFIG."""
        env = {"BUILD_NUMBER": str(number), "PER_JOB_CONFIG": "yes" if per_job_config else "no"}
        password = ""
        if stage == "login":
            env["REGISTRY_USER"] = user
            password = self.passwords[user] + "\n"
        return self.pipeline(
            "job.sh", stage, *args, env=env, stdin=password, secret=tuple(self.passwords.values()), check=check
        )

    def apply(self) -> list[Step]:
        """Run every provisioning step again (they are idempotent); the steps, to see what changed."""
        return apply(self)

    def secrets(self) -> tuple[str, ...]:
        return tuple(self.passwords.values())


def provision(
    fleet: Fleet, spec: OsSpec, variant: str = "hardened", networks: dict[str, Network] | None = None
) -> ConcurrentBuilds:
    """Start the two VPSes of ``spec`` on a private network of ``fleet`` (or ``networks``) and provision them."""
    return provision_world(ConcurrentBuilds, fleet, spec, variant, networks)


def apply(world: ConcurrentBuilds) -> list[Step]:
    """Apply the CI-registry flow's scripts to ``world``'s hosts; the steps."""
    registry, jenkins = world.registry, world.jenkins
    env = {"REGISTRY": REGISTRY}
    first = len(world.steps)
    world.install(SCRIPTS)
    users = "".join(f"{user} {password}\n" for user, password in world.passwords.items())
    master = {"master.pub": world.master_key.public + "\n"}
    at_once(
        [
            lambda: world.timed("registry", SCRIPTS.run(registry, "registry.sh", inputs={"users": users})),
            lambda: [
                world.timed("jenkins engine", SCRIPTS.run(jenkins, "engine.sh", env)),
                world.timed("jenkins", SCRIPTS.run(jenkins, "jenkins.sh", env, master)),
            ],
        ]
    )
    return world.steps[first:]
