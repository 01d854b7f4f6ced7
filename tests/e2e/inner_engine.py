"""A pytest plugin of this suite's runs, and of the README's examples' run it starts.

A test that needs Docker inside a VPS, on an OS whose Docker cannot run on
this engine's cgroups (Ubuntu 16.04's 18.09 on a cgroup-v2 engine: a GitHub
runner), is skipped saying so. Only that typed error turns into a skip
(alone, or as every failure of VPSes started at once); the harness raises
it after reading the engine's cgroup version and the OS's Docker release,
and test_cgroups.py asserts that it does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.errors import InnerEngineUnsupported, SeveralFailed

#: What the error's reason says, as a CLI or an inner pytest prints it (harness/readiness.py).
SAID = "knows cgroup v1 only"


def unsupported(error: BaseException) -> InnerEngineUnsupported | None:
    """The :class:`InnerEngineUnsupported` that ``error`` is, or that each of its failures is."""
    if isinstance(error, InnerEngineUnsupported):
        return error
    if isinstance(error, SeveralFailed) and error.failures:
        found = [unsupported(failure) for _, failure in error.failures]
        return found[0] if all(found) else None
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed or call.excinfo is None:
        return
    found = unsupported(call.excinfo.value)
    if found is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {found.reason}")
