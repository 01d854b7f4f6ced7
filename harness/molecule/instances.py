"""A Molecule scenario's instances as vps-harness VPSes: create, destroy, and the converged snapshot.

Each scenario run keeps what is its own in Molecule's ephemeral directory
(``<ephemeral>/vps-harness``): the client key, the known_hosts files and
one ``ssh_config`` with a ``Host`` block per instance (its bastion's
``ProxyCommand`` included). Its VPSes carry the labels of a world of
``vps-harness up`` made from that directory (:class:`~harness.standalone.Standalone`):
no owner process, since create, converge and destroy are separate
processes; so two scenarios, or two runs of one in parallel (each its own
ephemeral directory), share nothing, and ``molecule destroy`` removes
exactly its own.

A platform is ``{name, os, init, docker, networks, bastion}``:

- ``os``: a spec of the matrix (``debian:12``); ``init``: ``systemd``
  (default) or ``sshd``; ``docker``: ``none`` (default), ``dind`` or
  ``bare`` (``socket`` is refused: the VPS outlives the process that
  would serve it);
- ``networks``: ``[{name: backend}]`` (Molecule's own form) or ``[backend]``:
  private networks of the scenario, where instances reach each other by name;
- ``bastion``: the name of another platform on a shared network: the
  instance gets no published port, and is reached through that one (``ssh -J``).

The instance config Molecule reads has, per instance, ``instance``,
``address`` (the ``Host`` alias), ``user``, ``port``, ``identity_file`` and
``ssh_config``; Ansible connects with ``-F ssh_config`` (see
:meth:`harness.molecule.driver.VpsHarness.ansible_connection_options`).

With ``snapshot: converge`` under ``driver:``, each instance is kept as a
snapshot once it has converged (before ``idempotence`` or ``verify`` runs),
keyed by the role's content (``recipe:`` under ``driver:``, paths under the project; default
every file of the role outside ``molecule/``), the scenario's ``prepare.yml``
and ``converge.yml``, and the platform; a later ``create`` starts copies of
those snapshots instead, in about a second each.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import HarnessError, Images, Snapshot, Vps, VpsWant, docker_client, parse_spec, recipe_key
from harness.errors import NoSuchVps
from harness.standalone import Standalone

#: The world name a scenario's VPSes carry (with the state directory's id, which makes them its own).
WORLD = "molecule"
#: Where a scenario keeps what is its own, inside Molecule's ephemeral directory.
FOLDER = "vps-harness"
PLATFORM_KEYS = ("name", "os", "init", "docker", "networks", "bastion")
#: Where a recorded snapshot key lives (per instance), written at create, read when the snapshot is taken.
KEYS_FILE = "snapshot-keys.json"


@dataclass(frozen=True)
class Platform:
    """One ``platforms:`` entry of ``molecule.yml``, checked."""

    name: str
    want: VpsWant
    networks: tuple[str, ...] = ()
    bastion: str = ""
    given: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Platform:
        name = str(entry.get("name", ""))
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", name):
            raise HarnessError(f"platform name {name!r} is not a host name: use lowercase letters, digits and '-'")
        if "os" not in entry:
            raise HarnessError(f"platform {name}: give its os, one of the matrix's specs (e.g. os: debian:12)")
        docker = str(entry.get("docker", "none"))
        if docker == "socket":
            raise HarnessError(
                f"platform {name}: docker: socket needs the process serving the socket to outlive the instance, "
                "and Molecule's create step exits; use docker: dind"
            )
        networks = tuple(
            str(network["name"] if isinstance(network, dict) else network) for network in entry.get("networks") or ()
        )
        bastion = str(entry.get("bastion") or "")
        want = VpsWant(
            parse_spec(str(entry["os"])),
            name=name,
            init=str(entry.get("init", "systemd")),  # type: ignore[arg-type]
            docker=docker,  # type: ignore[arg-type]
            publish_ssh=not bastion,
        )
        return cls(name, want, networks, bastion, dict(entry))


def platforms(given: Sequence[dict[str, Any]]) -> list[Platform]:
    """The scenario's platforms, checked as a whole: unique names, bastions that are platforms on a shared network."""
    found = [Platform.of(entry) for entry in given]
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise HarnessError(
            f"platform names must be unique; these repeat: {sorted({n for n in names if names.count(n) > 1})}"
        )
    by_name = {p.name: p for p in found}
    for platform in found:
        if not platform.bastion:
            continue
        bastion = by_name.get(platform.bastion)
        if bastion is None or bastion.bastion:
            raise HarnessError(
                f"platform {platform.name}: bastion {platform.bastion!r} is not a platform reached directly; "
                f"name one of {sorted(p.name for p in found if not p.bastion)}"
            )
        if not set(platform.networks) & set(bastion.networks):
            raise HarnessError(f"platform {platform.name} and its bastion {bastion.name} share no network")
    return found


def snapshot_key(platform: Platform, project: Path, scenario: Path, recipe: Sequence[str]) -> str:
    """The key of ``platform``'s converged snapshot: the role's files, the scenario's playbooks, the platform."""
    paths = [project / path for path in recipe] or sorted(
        p for p in project.iterdir() if p.name != "molecule" and not p.name.startswith(".")
    )
    paths += [scenario / "prepare.yml", scenario / "converge.yml"]
    return recipe_key(paths, "molecule", json.dumps(platform.given, sort_keys=True))


class Scenario:
    """One scenario run's VPSes, in its ephemeral directory ``state``."""

    def __init__(self, state: Path, instance_config: Path) -> None:
        self.folder = state / FOLDER
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.instance_config = instance_config
        self.desk = Standalone(docker_client(), self.folder)

    def create(self, given: Sequence[dict[str, Any]], keys: dict[str, str] | None = None) -> str:
        """Start the platforms (copies of their converged snapshots where ``keys`` finds them); what it did."""
        if self.desk.world_containers(WORLD):
            return "the instances are up already"
        chosen = platforms(given)
        keys = keys or {}
        images = Images(self.desk.client)
        restored: list[str] = []

        def provision(fleet: Any, spec: object) -> _Instances:
            networks = {name: fleet.network(name) for p in chosen for name in p.networks}
            started: dict[str, Vps] = {}
            plain = []
            for p in chosen:
                snap = (
                    Snapshot.find(fleet.client, Snapshot.tag_for(p.want.os, p.name, keys[p.name]))
                    if p.name in keys
                    else None
                )
                placement = {"networks": [networks[n] for n in p.networks], "publish_ssh": not p.bastion}
                if snap is not None:
                    started[p.name] = fleet.restore(snap, **placement)
                    restored.append(p.name)
                else:
                    plain.append(VpsWant.of(p.want, networks=placement["networks"]))
            for vps in fleet.start(*plain):
                started[vps.name] = vps
            for p in chosen:
                if p.bastion:
                    started[p.bastion].jump_to(started[p.name])
            return _Instances(self, [started[p.name] for p in chosen])

        self.desk.world_up(images, WORLD, provision, chosen[0].want.os)
        bastions = {p.name: p.bastion for p in chosen if p.bastion}
        (self.folder / KEYS_FILE).write_text(json.dumps({"keys": keys, "bastions": bastions}))
        copies = f" ({', '.join(restored)} from converged snapshots)" if restored else ""
        return f"started {', '.join(p.name for p in chosen)}{copies}"

    def destroy(self) -> str:
        try:
            removed = self.desk.world_down(WORLD)
        except NoSuchVps:
            removed = []
        self.instance_config.write_text("[]\n")
        return f"removed {', '.join(removed)}" if removed else "nothing to remove"

    def snapshot(self) -> list[str]:
        """Keep each instance that has no snapshot under its key yet as one (they are powered off and on again)."""
        kept = self.folder / KEYS_FILE
        state = json.loads(kept.read_text()) if kept.is_file() else {}
        keys, bastions = state.get("keys", {}), state.get("bastions", {})
        vpses = {
            vps.name: vps
            for vps in (Vps.attach(self.desk.client, c, self.desk.identity) for c in self.desk.world_containers(WORLD))
        }
        for name, bastion in bastions.items():
            if name in vpses and bastion in vpses:
                vpses[bastion].jump_to(vpses[name])
        taken = []
        # Those behind a bastion first: taking a snapshot powers a VPS off and on again.
        for vps in sorted(vpses.values(), key=lambda vps: vps.name not in bastions):
            key = keys.get(vps.name)
            if key and Snapshot.find(vps.client, Snapshot.tag_for(vps.os, vps.name, key)) is None:
                vps.snapshot(key)
                taken.append(vps.name)
        if taken:  # powered off and on: a published port may have changed, so Ansible's files are written again
            rows = json.loads(self.instance_config.read_text() or "[]")
            _Instances(self, [vpses[row["instance"]] for row in rows if row["instance"] in vpses])
        for vps in vpses.values():
            vps.close()
        return taken


class _Instances:
    """What :meth:`Scenario.create` hands Molecule: the instance config and the ssh_config."""

    def __init__(self, scenario: Scenario, vpses: list[Vps]) -> None:
        config = scenario.desk.identity.ssh_config_file([vps.ssh_config() for vps in vpses], name="ssh_config")
        rows = [
            {
                "instance": vps.name,
                "address": vps.ssh_alias,
                "user": vps.user,
                "port": vps.route.port,
                "identity_file": str(vps.key_file),
                "ssh_config": str(config),
            }
            for vps in vpses
        ]
        scenario.instance_config.write_text(json.dumps(rows, indent=2) + "\n")
        self.vpses = vpses

    def describe(self) -> str:
        return "\n".join(vps.ssh_command() for vps in self.vpses)

    def close(self) -> None:
        for vps in self.vpses:
            vps.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.molecule", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create")
    destroy = commands.add_parser("destroy")
    snapshot = commands.add_parser("snapshot")
    for command in (create, destroy, snapshot):
        command.add_argument("--state", type=Path, required=True, help="Molecule's ephemeral directory")
        command.add_argument("--instance-config", type=Path, required=True)
    create.add_argument("--platforms", required=True, help="molecule.yml's platforms, as JSON")
    create.add_argument("--scenario", type=Path, default=Path.cwd(), help="the scenario's directory")
    create.add_argument("--project", type=Path, default=Path.cwd(), help="the role's directory")
    create.add_argument("--snapshot", default="", choices=("", "converge"))
    create.add_argument("--recipe", default="[]", help="JSON list of paths under the project the snapshot key counts")
    args = parser.parse_args(argv)
    try:
        scenario = Scenario(args.state, args.instance_config)
        if args.command == "create":
            given = json.loads(args.platforms)
            keys = {}
            if args.snapshot == "converge":
                recipe = json.loads(args.recipe)
                keys = {p.name: snapshot_key(p, args.project, args.scenario, recipe) for p in platforms(given)}
            print(scenario.create(given, keys))
        elif args.command == "destroy":
            print(scenario.destroy())
        else:
            taken = scenario.snapshot()
            print(f"snapshots taken: {', '.join(taken)}" if taken else "no snapshot to take")
    except HarnessError as e:
        print(f"vps-harness: {e}", file=sys.stderr)
        return 1
    return 0
