"""The environment of a pytest, CLI or tool run these tests start in a subprocess."""

from __future__ import annotations

import os


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the outer pytest's (xdist worker ids and the like), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}
    return {**env, **extra}
