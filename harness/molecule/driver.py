"""The ``molecule-vps-harness`` driver: Molecule's side of :mod:`harness.molecule`.

Molecule finds it by its ``molecule.driver`` entry point, runs the create
and destroy playbooks beside it (``playbooks/``), and builds Ansible's
inventory from :meth:`VpsHarness.ansible_connection_options`: the instance's
``Host`` alias and ``-F`` its scenario's ssh_config, so Ansible connects
with OpenSSH, pinned host key and bastion included, as to a real server.

Before ``idempotence``, ``side_effect`` or ``verify`` of a converged scenario
whose driver says ``snapshot: converge``, Molecule's call of
:meth:`VpsHarness.sanity_checks` (before each playbook) keeps each instance
as a snapshot, once per content key (see :mod:`harness.molecule.instances`).

Written against Molecule 25.1's driver API (the last Molecule that runs
with ansible-core 2.15); 26.x has the same members.
"""

from __future__ import annotations

import logging
import shlex
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from molecule import util
from molecule.api import Driver

from harness.molecule.instances import Scenario

#: Molecule's schema takes a third-party driver's name only as ``molecule-*`` or ``custom-*``.
NAME = "molecule-vps-harness"
#: The steps after converge that should start from the converged state: the snapshot is taken before them.
AFTER_CONVERGE = ("idempotence", "side_effect", "verify")


class VpsHarness(Driver):
    """vps-harness VPSes as Molecule instances, reached over SSH."""

    title = "vps-harness: systemd+sshd VPS containers reached over real SSH"

    def __init__(self, config: Any = None) -> None:
        try:
            super().__init__(config)
        except PackageNotFoundError:  # Molecule asks the version of the driver's top package, here `harness`
            self.version = version("vps-harness")
        self._name = NAME

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def login_cmd_template(self) -> str:
        return "ssh -F {ssh_config} {address}"

    @property
    def default_ssh_connection_options(self) -> list[str]:
        return []

    @property
    def default_safe_files(self) -> list[str]:
        """What ``molecule destroy`` keeps: the instance config (``[]`` after destroy) and our folder."""
        return [self.instance_config]

    def login_options(self, instance_name: str) -> dict[str, Any]:
        return {"instance": instance_name, **self._instance(instance_name)}

    def ansible_connection_options(self, instance_name: str) -> dict[str, Any]:
        found = self._instance(instance_name)
        if not found:
            return {}
        return {
            "ansible_connection": "ssh",
            "ansible_host": found["address"],
            "ansible_user": found["user"],
            "ansible_ssh_common_args": shlex.join(["-F", found["ssh_config"]]),
        }

    def sanity_checks(self) -> None:
        """Before each playbook; before the first step after a converge, keep the converged snapshots."""
        if self._config is None or self._driver_setting("snapshot") != "converge":
            return
        if self._config.action in AFTER_CONVERGE and self._config.state.converged:
            scenario = Scenario(Path(self._config.scenario.ephemeral_directory), Path(self.instance_config))
            taken = scenario.snapshot()
            if taken:
                logging.getLogger(__name__).warning("vps-harness: kept the converged %s as snapshots", ", ".join(taken))

    def _driver_setting(self, key: str) -> Any:
        return (self._config.config.get("driver") or {}).get(key)

    def _instance(self, instance_name: str) -> dict[str, Any]:
        try:
            rows = util.safe_load_file(self.instance_config) or []
        except OSError:
            return {}
        return next((dict(row) for row in rows if row.get("instance") == instance_name), {})
