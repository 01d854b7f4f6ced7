"""A Molecule driver: ``molecule test`` runs a role on vps-harness VPSes, over real SSH.

Molecule's ``molecule.driver`` entry point names :class:`~harness.molecule.driver.VpsHarness`
(``driver: {name: molecule-vps-harness}`` in ``molecule.yml``: Molecule's schema
wants a driver's name to start ``molecule-`` or ``custom-``). Its create and
destroy playbooks call this package (``python -m harness.molecule``) with the
Python that runs them, which :mod:`harness.molecule.instances` turns into VPSes
of the library: labelled as a scenario's, owned by no process (a scenario's
steps are several processes), removed by ``molecule destroy`` or
``vps-harness gc --all``. Ansible reaches each over OpenSSH with the
scenario's ``ssh_config`` (bastion included), as it reaches a real server.

The core never imports this package; it imports Molecule only in the driver.
Tested with Molecule 25.1 and ansible-core 2.15, the last pair that still
manages Ubuntu 16.04's Python 3.5 (docs/molecule.md).
"""
