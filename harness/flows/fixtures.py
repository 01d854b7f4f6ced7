"""pytest fixtures of the provisioning flows (entry point ``vps_harness_flows``).

>>> def test_hop(jenkins_slave0):  # doctest: +SKIP
...     assert jenkins_slave0.laptop_ssh("docker@host2", "whoami").stdout == "myuser\\n"
"""

from __future__ import annotations

import pytest

from harness.errors import ImageUnavailable
from harness.fleet import Fleet
from harness.flows.jenkins_slave0 import JenkinsSlave0, provision
from harness.flows.world import VARIANTS
from harness.spec import OsSpec


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"jenkins_slave0(variant='hardened'): the variant of the jenkins_slave0 world ({' or '.join(VARIANTS)})",
    )


@pytest.fixture
def jenkins_slave0(request: pytest.FixtureRequest, vps_fleet: Fleet, vps_os: OsSpec) -> JenkinsSlave0:
    """The jenkins-slave0 world of the test's OS, provisioned (see :mod:`harness.flows.jenkins_slave0`).

    ``laptop``, ``host2``, ``vm`` and ``outsider`` are :class:`~harness.vps.Vps` objects on
    ``network``; ``cert`` is the proxy's certificate (PEM), ``variant`` which setup it is
    (``@pytest.mark.jenkins_slave0(variant="as_written")``; default ``hardened``). Removed after the test.
    """
    marker = request.node.get_closest_marker("jenkins_slave0")
    variant = marker.kwargs.get("variant", "hardened") if marker else "hardened"
    try:
        return provision(vps_fleet, vps_os, variant)
    except ImageUnavailable as e:
        if vps_os.can_bootstrap:
            raise
        pytest.skip(f"no {vps_os} jenkins-slave0 world on this machine: {e}")
