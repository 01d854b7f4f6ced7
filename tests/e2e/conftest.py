from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import labels
from harness.spec import OsSpec, parse_spec

#: The OS matrix every end-to-end test covers at least.
E2E_SPECS = ("ubuntu:16.04", "debian:12")


@pytest.fixture(params=E2E_SPECS, ids=lambda v: v.replace(":", "-"))
def spec(request: pytest.FixtureRequest) -> OsSpec:
    return parse_spec(request.param)


@pytest.fixture(scope="session")
def session_labels() -> Iterator[dict[str, str]]:
    yield labels.owner_labels("e2e-" + labels.new_session_id())
