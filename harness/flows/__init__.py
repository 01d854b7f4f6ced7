"""Provisioning flows of the field, as code, on the harness's public API.

Each flow is shell scripts and config templates kept as files (``scripts/``,
``templates/``, per package family through ``lib/apt.sh`` and
``lib/rpm.sh``), applied over SSH to VPSes by a thin Python driver, plus the
images its servers run inside their own engines (``images/``, ``*/agent``).
The core (``harness`` outside this package) never imports it, and it uses
only the core's public API; its fixtures are a pytest plugin a suite enables
(``-p harness.flows.fixtures``; see docs/flows.md).

>>> from harness.flows.jenkins_slave0 import provision  # doctest: +SKIP
>>> world = provision(fleet, parse_spec("debian:12"))  # doctest: +SKIP
>>> world.laptop_ssh("docker@host2", "whoami").stdout  # doctest: +SKIP
'myuser\\n'
"""
