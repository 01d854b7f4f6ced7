"""pytest hooks of vps-harness: options, markers, progress. Hooks only."""

from __future__ import annotations

import pytest

pytest_plugins = ["harness.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker engine (skips with the reason when none answers)")
