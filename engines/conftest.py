"""`make test-engines`' report: per engine, what it is and what the harness's tests inside it said."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reports = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if isinstance(report, pytest.TestReport) and report.when == "call"
    ]
    if not reports:
        return
    terminalreporter.section("the harness inside each engine")
    for report in sorted(reports, key=lambda r: r.nodeid):
        found = dict(report.user_properties)
        which = report.nodeid.split("[", 1)[-1].rstrip("]")
        terminalreporter.line(f"{which}: {report.outcome}; engine {found.get('engine', '?')}")
        terminalreporter.line(f"    inside: {found.get('inside', '(did not run)')}")
