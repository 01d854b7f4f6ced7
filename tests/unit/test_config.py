from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import HarnessConfig
from harness.errors import ConfigError


def test_defaults_follow_xdg_cache_home() -> None:
    config = HarnessConfig.from_env({"XDG_CACHE_HOME": "/c"})
    assert config.cache_dir == Path("/c/vps-harness")
    assert config.lock_dir == Path("/c/vps-harness/locks")
    assert config.pull and config.verify_bootstrap


def test_environment_overrides() -> None:
    config = HarnessConfig.from_env(
        {"VPS_HARNESS_CACHE_DIR": "/x", "VPS_HARNESS_PULL": "no", "VPS_HARNESS_INSECURE_BOOTSTRAP": "1"}
    )
    assert (config.cache_dir, config.pull, config.verify_bootstrap) == (Path("/x"), False, False)


def test_a_flag_that_is_not_yes_or_no_is_named() -> None:
    with pytest.raises(ConfigError, match="VPS_HARNESS_PULL='maybe' is not a yes/no value; use 1 or 0"):
        HarnessConfig.from_env({"VPS_HARNESS_PULL": "maybe"})


@pytest.mark.parametrize(
    ("value", "mode"), [("", "on"), ("1", "on"), ("0", "off"), ("no", "off"), ("offline", "offline")]
)
def test_the_package_cache_switch(value: str, mode: str) -> None:
    assert HarnessConfig.from_env({"VPS_HARNESS_PACKAGE_CACHE": value}).package_cache == mode


def test_a_package_cache_value_that_is_not_a_mode_is_named() -> None:
    with pytest.raises(ConfigError, match="VPS_HARNESS_PACKAGE_CACHE='sometimes' is not 1, 0 or offline"):
        HarnessConfig.from_env({"VPS_HARNESS_PACKAGE_CACHE": "sometimes"})


@pytest.mark.parametrize("value", ["10m", "0", "-5"])
def test_a_docker_timeout_that_is_not_seconds_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match=f"VPS_HARNESS_DOCKER_TIMEOUT='{value}' is not a number of seconds"):
        HarnessConfig.from_env({"VPS_HARNESS_DOCKER_TIMEOUT": value})


def test_a_docker_timeout_given_or_not() -> None:
    assert HarnessConfig.from_env({"VPS_HARNESS_DOCKER_TIMEOUT": "120"}).docker_timeout == 120
    assert HarnessConfig.from_env({"VPS_HARNESS_DOCKER_TIMEOUT": ""}).docker_timeout == 600
