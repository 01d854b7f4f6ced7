"""How a route renders for OpenSSH, through chains of bastions (no Docker)."""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.remote import parse
from harness.route import Route


def hop(alias: str, host: str, port: int, bastion: Route | None = None) -> Route:
    return Route(alias, host, port, "vps", Path("/k/id"), Path(f"/k/known_hosts-{alias}"), bastion)


def test_a_route_through_two_bastions_keeps_each_hops_target() -> None:
    outer = hop("outer", "127.0.0.1", 32771)
    middle = hop("middle", "10.0.0.2", 22, outer)
    target = hop("target", "10.0.1.3", 22, middle)
    line = shlex.split(target.ssh_command())
    proxy = next(arg for arg in line if arg.startswith("ProxyCommand=")).removeprefix("ProxyCommand=")
    # The top ssh expands its ProxyCommand once: %h:%p become the target's, and
    # the nested ProxyCommand's %%h:%%p become %h:%p for the middle ssh to expand.
    words = shlex.split(proxy)
    assert words[-3:] == ["-W", "%h:%p", "vps@10.0.0.2"]
    nested = next(arg for arg in words if arg.startswith("ProxyCommand=")).removeprefix("ProxyCommand=")
    assert shlex.split(nested)[-3:] == ["-W", "%%h:%%p", "vps@127.0.0.1"]
    assert "-p" in shlex.split(nested) and "32771" in shlex.split(nested)
    config = target.ssh_config()
    assert "    HostName 10.0.1.3\n" in config and "    ProxyCommand ssh -F /dev/null" in config
    assert config.count("%%h:%%p") == 1 and config.count("-W %h:%p") == 1


def test_a_path_with_blanks_is_quoted_in_ssh_config() -> None:
    route = Route("a", "127.0.0.1", 2222, "vps", Path("/my keys/id"), Path("/my keys/kh"))
    assert '    IdentityFile "/my keys/id"\n' in route.ssh_config()
    assert shlex.split(route.ssh_command())[2] == "/my keys/id"


def test_a_route_through_an_ssh_engines_host_hands_tools_its_proxy_command() -> None:
    engine = parse("ssh://vps@build-1.internal:2222")
    route = Route("a", "127.0.0.1", 32771, "vps", Path("/k/id"), Path("/k/kh"), proxy=engine.proxy_command())
    assert "    ProxyCommand ssh -l vps -p 2222 -W %h:%p -- build-1.internal\n" in route.ssh_config()
    line = shlex.split(route.ssh_command())
    assert "ProxyCommand=ssh -l vps -p 2222 -W %h:%p -- build-1.internal" in line
    # Behind a bastion of that engine, the bastion's own hop is nested (its %h:%p escaped once).
    behind = hop("b", "10.0.0.3", 22, route)
    assert "ProxyCommand=ssh -l vps -p 2222 -W %%h:%%p -- build-1.internal" in behind.ssh_config()
