"""Provisioning flows of the field, as code, on the harness's public API.

Each flow is shell scripts and config templates kept as files (``scripts/``,
``templates/``, per package family through ``lib/apt.sh`` and
``lib/rpm.sh``), applied over SSH to VPSes by a thin Python driver, plus the
images its servers run inside their own engines (``images/``, ``*/agent``).
The core (``harness`` outside this package) never imports it; its fixtures
reach pytest through their own entry point (``harness.flows.fixtures``).

>>> from harness.flows.jenkins_slave0 import provision  # doctest: +SKIP
>>> world = provision(fleet, parse_spec("debian:12"))  # doctest: +SKIP
>>> world.laptop_ssh("docker@host2", "whoami").stdout  # doctest: +SKIP
'myuser\\n'
"""
