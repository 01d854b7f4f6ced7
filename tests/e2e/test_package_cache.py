"""The package cache end to end: apt in a VPS goes through it, sources untouched, and works offline."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from harness import cache, labels
from harness.images import Images
from harness.reaper import remove_container
from harness.spec import OsSpec
from harness.vps import Vps

pytestmark = pytest.mark.docker

INSTALL = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx"


@pytest.fixture
def apt_spec(spec: OsSpec, vps_images: Images) -> OsSpec:
    if spec.package_family != "apt":
        pytest.skip(f"{spec} installs with yum/dnf: the package cache serves apt only, and {spec} goes direct")
    if vps_images.config.package_cache == "off":
        pytest.skip("VPS_HARNESS_PACKAGE_CACHE=0 switched the package cache off for this run")
    return spec


def test_apt_goes_through_the_cache_and_the_sources_are_the_distributions(
    apt_spec: OsSpec, vps_factory: Callable[..., Vps], vps_images: Images, vps_engine: docker.DockerClient
) -> None:
    url = vps_images.package_proxy(apt_spec)
    assert url is not None
    vps = vps_factory()
    assert f'Acquire::http::Proxy "{url}";' in vps.run("apt-config dump").stdout
    sources = vps.run("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null", check=False).stdout
    assert "3142" not in sources and url not in sources, "apt sources stay as the distribution writes them"
    vps.run(INSTALL, sudo=True, timeout=300)
    service = vps_engine.containers.get(cache.NAME)
    found = service.exec_run(["find", "/var/cache/apt-cacher-ng", "-name", "nginx*.deb"]).output.decode()
    assert ".deb" in found, "what the VPS installed is in the cache"


@pytest.fixture
def private_cache(vps_engine: docker.DockerClient) -> Iterator[str]:
    """The name of a package cache of this test's own (its container and volume removed after it)."""
    name = f"{cache.NAME}-test-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(docker.errors.NotFound):
        remove_container(vps_engine.containers.get(name))
    with contextlib.suppress(docker.errors.NotFound):
        vps_engine.volumes.get(name).remove(force=True)


def test_offline_the_cache_still_installs_what_it_fetched_before(
    apt_spec: OsSpec,
    vps_factory: Callable[..., Vps],
    vps_images: Images,
    vps_engine: docker.DockerClient,
    private_cache: str,
) -> None:
    service = vps_images.inner(cache.BASE, "apt-cacher-ng", cache.RECIPE)
    owner = labels.owner_labels("package-cache-test")

    def through(url: str) -> Vps:
        vps = vps_factory()
        vps.put_text(f'Acquire::http::Proxy "{url}";\n', "/etc/apt/apt.conf.d/99test-cache")
        return vps

    online = cache.ensure(vps_engine, service.tag, "on", name=private_cache, owner=owner)
    through(online).run(INSTALL, sudo=True, timeout=300)
    offline = cache.ensure(vps_engine, service.tag, "offline", name=private_cache, owner=owner)
    assert vps_engine.containers.get(private_cache).labels[cache.MODE] == "offline"
    vps = through(offline)
    vps.run(INSTALL, sudo=True, timeout=300)
    assert vps.run("command -v nginx", sudo=True).ok, "installed from the cache alone"
    never = vps.run("cd /tmp && apt-get download file", check=False)
    assert never.exit_status != 0 and "503" in never.stdout + never.stderr, "nothing new comes from an archive"
