from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import labels
from harness.spec import OsSpec
from tests.e2e.inner_engine import pytest_runtest_makereport  # noqa: F401  (this suite's skip of it)

#: The Molecule role's own testinfra tests run under `molecule verify` (test_molecule.py), not here.
collect_ignore_glob = ["roles/*"]


@pytest.fixture
def spec(vps_os: OsSpec) -> OsSpec:
    """The test's OS: each entry of the ``--vps`` matrix (the ini's ubuntu:16.04 and debian:12 by default)."""
    return vps_os


@pytest.fixture(autouse=True)
def _images_first(request: pytest.FixtureRequest) -> None:
    """Every test on real containers starts after the matrix's images are built (ini ``vps_prepare``).

    Tests that shell out to the CLI or an inner pytest reach images on their
    own; none may depend on an image another test happened to build first.
    """
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("vps_prepared")


@pytest.fixture(scope="session")
def session_labels() -> Iterator[dict[str, str]]:
    yield labels.owner_labels("e2e-" + labels.new_session_id())
