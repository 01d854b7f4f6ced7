"""OS specs: ``ubuntu:16.04`` → :class:`OsSpec`.

One table lists every supported OS; :func:`parse_spec` is the only parser.

>>> spec = parse_spec("ubuntu:16.04")
>>> spec.suite, spec.package_family, spec.id
('xenial', 'apt', 'ubuntu-16.04')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.errors import UnknownOsSpec

PackageFamily = Literal["apt", "rpm"]


@dataclass(frozen=True, order=True)
class OsSpec:
    """One supported operating system release."""

    family: str
    version: str
    package_family: PackageFamily
    suite: str = ""

    def __str__(self) -> str:
        return f"{self.family}:{self.version}"

    @property
    def id(self) -> str:
        """Readable test id and tag fragment: ``ubuntu-16.04``."""
        return f"{self.family}-{self.version}"

    @property
    def registry_ref(self) -> str:
        """The name a registry knows this OS by (``ubuntu:16.04``)."""
        return str(self)

    @property
    def can_bootstrap(self) -> bool:
        """Whether a base can be built from the distribution's package archive."""
        return self.package_family == "apt"


SUPPORTED: tuple[OsSpec, ...] = (
    OsSpec("ubuntu", "16.04", "apt", "xenial"),
    OsSpec("ubuntu", "18.04", "apt", "bionic"),
    OsSpec("ubuntu", "20.04", "apt", "focal"),
    OsSpec("ubuntu", "22.04", "apt", "jammy"),
    OsSpec("ubuntu", "24.04", "apt", "noble"),
    OsSpec("debian", "11", "apt", "bullseye"),
    OsSpec("debian", "12", "apt", "bookworm"),
    OsSpec("debian", "13", "apt", "trixie"),
    OsSpec("centos", "7", "rpm"),
    OsSpec("rockylinux", "9", "rpm"),
)

_BY_NAME: dict[str, OsSpec] = {}
for _spec in SUPPORTED:
    _BY_NAME[str(_spec)] = _spec
    _BY_NAME[_spec.id] = _spec
    if _spec.suite:
        _BY_NAME[f"{_spec.family}:{_spec.suite}"] = _spec


def parse_spec(value: str) -> OsSpec:
    """Return the :class:`OsSpec` that ``value`` names.

    Accepts ``family:version`` (``debian:12``), the test-id form
    (``debian-12``) and ``family:suite`` (``debian:bookworm``), case and
    surrounding blanks ignored.

    >>> parse_spec(" Debian:bookworm ") == parse_spec("debian:12")
    True
    """
    spec = _BY_NAME.get(value.strip().lower())
    if spec is None:
        raise UnknownOsSpec(value, [str(s) for s in SUPPORTED])
    return spec


def parse_specs(values: list[str] | tuple[str, ...]) -> tuple[OsSpec, ...]:
    """Parse repeated, comma-separated values into unique specs, in order.

    >>> [str(s) for s in parse_specs(["ubuntu:16.04", "debian:12,ubuntu:16.04"])]
    ['ubuntu:16.04', 'debian:12']
    """
    specs: list[OsSpec] = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            spec = parse_spec(part)
            if spec not in specs:
                specs.append(spec)
    return tuple(specs)
