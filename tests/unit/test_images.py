"""Image resolution and caching against a fake Docker client."""

from __future__ import annotations

import shutil
import tarfile
import types
from pathlib import Path
from typing import Any

import docker.errors
import pytest

import vps_images
from harness.bases import base_reference
from harness.builder import config_lines
from harness.config import HarnessConfig
from harness.errors import BuildFailed, ImageUnavailable
from harness.images import Images, InnerImage, VpsImage, recipe_hash
from harness.spec import OsSpec, parse_spec


class FakeImage:
    def __init__(self, image_id: str, tags: list[str]) -> None:
        self.id = image_id
        self.short_id = image_id[:12]
        self.tags = tags
        self.labels: dict[str, str] = {}
        self.attrs: dict[str, Any] = {}


class FakeImages:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def get(self, reference: str) -> FakeImage:
        for image in self.engine.store:
            if reference in image.tags or reference == image.id:
                return image
        raise docker.errors.ImageNotFound(reference)

    def pull(self, repository: str, tag: str) -> FakeImage:
        self.engine.calls.append(("pull", f"{repository}:{tag}"))
        if not self.engine.registry:
            raise docker.errors.APIError("pull", explanation="dial tcp: lookup registry: no such host")
        return self.engine.add(f"{repository}:{tag}")


class FakeApi:
    #: A local engine's (on a unix socket): Images copies nothing to it and takes the machine's locks.
    base_url = "http+docker://localhost"

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def get_adapter(self, url: str) -> Any:
        return types.SimpleNamespace(socket_path="/fake/docker.sock")

    def build(self, *, tag: str, buildargs: dict[str, str] | None = None, fileobj: Any = None, **_: Any) -> Any:
        self.engine.calls.append(("build", tag, (buildargs or {}).get("BASE") or (buildargs or {}).get("VPS", "")))
        self.engine.buildargs[tag] = dict(buildargs or {})
        if fileobj is not None:  # a context made in memory: keep what it holds
            with tarfile.open(fileobj=fileobj) as tar:
                self.engine.contexts[tag] = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
        yield {"stream": "Step 1/2 : FROM base\n"}
        if self.engine.build_error:
            yield {"stream": "E: Unable to locate package nosuch\n"}
            yield {"error": "The command '/bin/sh -c sh packages.sh' returned a non-zero code: 100"}
            return
        self.engine.add(tag)
        yield {"stream": "Successfully tagged " + tag + "\n"}


class FakeEngine:
    """The parts of docker.DockerClient that Images uses."""

    def __init__(self, registry: bool = False, build_error: bool = False) -> None:
        self.store: list[FakeImage] = []
        self.contexts: dict[str, dict[str, bytes]] = {}
        self.buildargs: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.registry = registry
        self.build_error = build_error
        self.images = FakeImages(self)
        self.api = FakeApi(self)

    def add(self, reference: str, layers: int = 1) -> FakeImage:
        image = FakeImage(f"sha256:{len(self.store) + 1:064d}", [reference])
        image.attrs["RootFS"] = {"Layers": [f"sha256:layer{n}" for n in range(layers)]}
        self.store.append(image)
        return image


def make_images(engine: FakeEngine, tmp_path: Path, **kwargs: Any) -> tuple[Images, list[str], list[OsSpec]]:
    lines: list[str] = []
    bootstrapped: list[OsSpec] = []

    def bootstrapper(spec: OsSpec) -> Any:
        bootstrapped.append(spec)
        return engine.add(base_reference(spec))

    config = HarnessConfig(cache_dir=tmp_path / "cache", **kwargs)
    images = Images(engine, config, progress=lines.append, bootstrapper=bootstrapper)  # type: ignore[arg-type]
    return images, lines, bootstrapped


DEBIAN = parse_spec("debian:12")
CENTOS = parse_spec("centos:7")


def test_a_local_registry_image_wins_and_nothing_is_pulled(tmp_path: Path) -> None:
    engine = FakeEngine(registry=True)
    official = engine.add("debian:12")
    engine.add(base_reference(DEBIAN))
    images, _, bootstrapped = make_images(engine, tmp_path)
    assert images.base(DEBIAN) is official
    assert engine.calls == [] and bootstrapped == []


def test_a_local_bootstrapped_base_is_used_without_pulling(tmp_path: Path) -> None:
    engine = FakeEngine(registry=True)
    ours = engine.add(base_reference(DEBIAN))
    images, _, bootstrapped = make_images(engine, tmp_path)
    assert images.base(DEBIAN) is ours
    assert engine.calls == [] and bootstrapped == []


def test_pull_comes_before_bootstrap(tmp_path: Path) -> None:
    engine = FakeEngine(registry=True)
    images, lines, bootstrapped = make_images(engine, tmp_path)
    assert images.base(DEBIAN).tags == ["debian:12"]
    assert engine.calls == [("pull", "debian:12")] and bootstrapped == []
    assert any("pulled debian:12" in line for line in lines)


def test_no_registry_means_bootstrap(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    images, lines, bootstrapped = make_images(engine, tmp_path)
    assert images.base(DEBIAN).tags == [base_reference(DEBIAN)]
    assert engine.calls == [("pull", "debian:12")] and bootstrapped == [DEBIAN]
    assert any("`docker pull debian:12` failed" in line and "no such host" in line for line in lines)


def test_pull_can_be_turned_off(tmp_path: Path) -> None:
    engine = FakeEngine(registry=True)
    images, _, bootstrapped = make_images(engine, tmp_path, pull=False)
    images.base(DEBIAN)
    assert engine.calls == [] and bootstrapped == [DEBIAN]


def test_rpm_family_without_registry_says_exactly_what_is_missing(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    images, _, bootstrapped = make_images(engine, tmp_path)
    with pytest.raises(ImageUnavailable) as caught:
        images.base(CENTOS)
    message = str(caught.value)
    assert "centos:7 needs its base image from a registry" in message
    assert "no such host" in message and "docker pull centos:7" in message
    assert bootstrapped == []


def test_vps_image_is_built_once_then_found_by_its_tag(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    images, _, _ = make_images(engine, tmp_path)
    first = images.vps(DEBIAN)
    second = images.vps(DEBIAN)
    assert first.built and not second.built
    assert first.tag == second.tag and first.image_id == second.image_id
    assert first.tag.startswith("vps-harness/vps:debian-12-")
    assert [c[0] for c in engine.calls].count("build") == 1
    assert ("build", first.tag, base_reference(DEBIAN)) in engine.calls


def test_the_bare_image_is_its_own_build_of_the_same_recipe_without_docker(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    images, _, _ = make_images(engine, tmp_path)
    bare, plain = images.vps(DEBIAN, bare=True), images.vps(DEBIAN)
    assert bare.built and plain.built and bare.tag != plain.tag
    assert bare.tag.startswith("vps-harness/vps:debian-12-bare-")
    assert not images.vps(DEBIAN, bare=True).built, "found by its tag the next time"
    assert engine.buildargs[bare.tag] == {"BASE": base_reference(DEBIAN), "DOCKER": "no"}
    assert engine.buildargs[plain.tag] == {"BASE": base_reference(DEBIAN)}


def test_a_failed_build_raises_with_output_and_reproduce_command(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False, build_error=True)
    images, _, _ = make_images(engine, tmp_path)
    with pytest.raises(BuildFailed) as caught:
        images.vps(DEBIAN)
    message = str(caught.value)
    assert "returned a non-zero code: 100" in message
    assert "E: Unable to locate package nosuch" in message
    dockerfile = vps_images.ROOT / "apt" / "Dockerfile"
    expected = f"docker build --build-arg BASE={base_reference(DEBIAN)} -f {dockerfile} -t vps-harness/vps:debian-12-"
    assert expected in message


def test_dind_image_is_seeded_once_on_top_of_the_vps_image(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    images, _, _ = make_images(engine, tmp_path)
    seeded: list[str] = []

    def seed(plain: VpsImage, inner: tuple[InnerImage, ...]) -> bytes:
        seeded.append(plain.tag)
        assert inner == ()
        return b"an engine's image store"

    first = images.dind(DEBIAN, seed)
    second = images.dind(DEBIAN, seed)
    plain = images.vps(DEBIAN)
    assert seeded == [plain.tag], "one seeding VPS, of the plain image, per machine"
    assert first.seeded and second.seeded and not plain.seeded
    assert first.built and not second.built and first.tag == second.tag
    assert first.tag.startswith("vps-harness/vps:debian-12-dind-") and first.tag != plain.tag
    recipe = (vps_images.ROOT / "dind" / "Dockerfile").read_text().splitlines(keepends=True)
    copy = f"COPY --from={plain.base} / /var/lib/vps-harness/docker-seed/layers/{plain.base[7:23]}/\n"
    assert engine.contexts[first.tag] == {
        "Dockerfile": "".join([*recipe[:-1], copy, recipe[-1]]).encode(),
        "store.tar": b"an engine's image store",
    }
    assert recipe[-1].startswith("COPY store.tar"), "each image's files come first: the store changes every seeding"


def test_a_base_of_several_layers_gets_the_plain_image_and_says_so_once(tmp_path: Path) -> None:
    engine = FakeEngine(registry=False)
    engine.add("debian:12", layers=3)
    images, lines, _ = make_images(engine, tmp_path)

    def seed(plain: VpsImage, inner: tuple[InnerImage, ...]) -> bytes:
        raise AssertionError("nothing to seed from a base of several layers")

    tags = {images.dind(DEBIAN, seed).tag, images.dind(DEBIAN, seed).tag, images.vps(DEBIAN).tag}
    assert len(tags) == 1 and not images.dind(DEBIAN, seed).seeded
    assert [line for line in lines if "layers" in line] == [
        "dind debian:12: the base has 3 layers, so each DinD VPS loads it at start"
    ]


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    copy = tmp_path / "recipes"
    shutil.copytree(vps_images.ROOT, copy)
    return copy


def apt_hash(recipes: Path, base: str = "sha256:1") -> str:
    return recipe_hash(recipes, "apt", base)


def test_recipe_hash_is_stable(recipes: Path) -> None:
    assert apt_hash(recipes) == apt_hash(recipes) == apt_hash(vps_images.ROOT)


def test_recipe_hash_ignores_modification_times_and_other_families(recipes: Path) -> None:
    before = apt_hash(recipes)
    (recipes / "apt" / "Dockerfile").touch()
    (recipes / "rpm" / "packages.sh").write_text("# another family\n")
    assert apt_hash(recipes) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "apt/Dockerfile").write_text((r / "apt/Dockerfile").read_text() + "# more\n"),
        lambda r: (r / "apt/extra.conf").write_text(""),
        lambda r: (r / "common/configure.sh").chmod(0o755),
        lambda r: (r / "apt/packages.sh").rename(r / "apt/packages2.sh"),
        lambda r: (r / "common/rootfs/etc/ssh/sshd_config").write_text("Port 2222\n"),
    ],
    ids=["content", "new-file", "exec-bit", "rename", "shared-file"],
)
def test_recipe_hash_sees_every_change(recipes: Path, change: Any) -> None:
    before = apt_hash(recipes)
    change(recipes)
    assert apt_hash(recipes) != before


def test_recipe_hash_depends_on_the_base(recipes: Path) -> None:
    assert apt_hash(recipes, "sha256:1") != apt_hash(recipes, "sha256:2")


def test_dind_hash_sees_its_own_folder_and_the_vps_recipe(recipes: Path) -> None:
    before = recipe_hash(recipes, "apt", "sha256:1", "dind")
    assert before != apt_hash(recipes)
    (recipes / "dind/Dockerfile").write_text((recipes / "dind/Dockerfile").read_text() + "# more\n")
    after_dind = recipe_hash(recipes, "apt", "sha256:1", "dind")
    (recipes / "common/configure.sh").write_text("# changed\n")
    assert len({before, after_dind, recipe_hash(recipes, "apt", "sha256:1", "dind")}) == 3


def test_config_lines_give_a_flattened_image_its_configuration_back() -> None:
    config = {
        "Env": ["PATH=/usr/bin:/bin", 'GREETING=a $HOME "quoted" value'],
        "Cmd": ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"],
        "Entrypoint": ["/usr/local/bin/setup-sshd"],
        "ExposedPorts": {"5000/tcp": {}},
        "Volumes": {"/var/lib/registry": {}},
        "WorkingDir": "/srv",
        "User": "jenkins",
        "StopSignal": "SIGRTMIN+3",
        "Labels": {"ignored": "yes"},
    }
    assert config_lines(config) == [
        'ENV PATH="/usr/bin:/bin"',
        'ENV GREETING="a \\$HOME \\"quoted\\" value"',
        "EXPOSE 5000/tcp",
        'VOLUME ["/var/lib/registry"]',
        "WORKDIR /srv",
        "USER jenkins",
        "STOPSIGNAL SIGRTMIN+3",
        'ENTRYPOINT ["/usr/local/bin/setup-sshd"]',
        'CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',
    ]
    assert config_lines({}) == []
