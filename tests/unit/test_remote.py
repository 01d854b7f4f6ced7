"""Engines elsewhere: how their URLs are read, and what the harness refuses there (no Docker)."""

from __future__ import annotations

import pytest

from harness.config import HarnessConfig
from harness.errors import ConfigError, HarnessError
from harness.launch import host_socket
from harness.remote import parse
from harness.state import RunSettings


@pytest.mark.parametrize(
    ("url", "kind", "address", "publish_on"),
    [
        ("unix:///var/run/docker.sock", "local", "127.0.0.1", "127.0.0.1"),
        ("tcp://10.0.0.5:2375", "tcp", "10.0.0.5", "0.0.0.0"),
        ("tcp://build-1.internal:2376", "tcp", "build-1.internal", "0.0.0.0"),
        ("ssh://vps@10.0.0.5", "ssh", "127.0.0.1", "127.0.0.1"),
    ],
)
def test_where_a_vps_is_published_and_reached_per_engine(url: str, kind: str, address: str, publish_on: str) -> None:
    reach = parse(url)
    assert (reach.kind, reach.address, reach.publish_on, reach.local) == (kind, address, publish_on, kind == "local")


def test_the_host_override_moves_only_a_tcp_engines_address() -> None:
    assert parse("tcp://10.0.0.5:2375", host="192.0.2.7").address == "192.0.2.7"
    assert parse("ssh://10.0.0.5", host="192.0.2.7").address == "127.0.0.1"


def test_an_ssh_engines_hop_is_the_ssh_the_docker_cli_runs() -> None:
    assert parse("ssh://10.0.0.5").proxy_command("127.0.0.1", "32768") == "ssh -W 127.0.0.1:32768 -- 10.0.0.5"
    assert parse("ssh://root@h:2222").ssh == ("-l", "root", "-p", "2222", "h")
    assert parse("tcp://h:2375").proxy_command() == ""


def test_a_socket_vps_needs_the_engine_on_this_machine() -> None:
    assert host_socket(parse("unix:///run/user/1000/docker.sock")) == "/run/user/1000/docker.sock"
    with pytest.raises(HarnessError, match=r"the engine at tcp://10.0.0.5:2375 runs elsewhere.*docker='dind'"):
        host_socket(parse("tcp://10.0.0.5:2375"))


def test_the_engines_setting_is_a_list_of_urls_and_names_a_bad_one() -> None:
    config = HarnessConfig.from_env({"VPS_HARNESS_ENGINES": "tcp://a:2375, ssh://vps@b", "VPS_HARNESS_HOST": "c"})
    assert (config.engines, config.host) == (("tcp://a:2375", "ssh://vps@b"), "c")
    with pytest.raises(ConfigError, match="VPS_HARNESS_ENGINES entry 'b:2375' is not an engine URL; use unix://"):
        HarnessConfig.from_env({"VPS_HARNESS_ENGINES": "tcp://a:2375,b:2375"})


def test_workers_take_the_engines_in_turn() -> None:
    settings = RunSettings((), False, "s", engines=("tcp://a:2375", "tcp://b:2375"))
    assert [settings.engine(f"gw{n}") for n in range(4)] == ["tcp://a:2375", "tcp://b:2375"] * 2
    assert settings.engine("master") == "tcp://a:2375"
    assert RunSettings((), False, "s").engine("gw1") == ""
