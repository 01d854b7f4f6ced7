from __future__ import annotations

import pytest

from harness.errors import UnknownOsSpec
from harness.spec import SUPPORTED, parse_spec, parse_specs

REQUIRED = [
    "ubuntu:16.04",
    "ubuntu:18.04",
    "ubuntu:20.04",
    "ubuntu:22.04",
    "ubuntu:24.04",
    "debian:11",
    "debian:12",
    "debian:13",
    "centos:7",
    "rockylinux:9",
]


@pytest.mark.parametrize("value", REQUIRED)
def test_every_required_spec_parses_to_itself(value: str) -> None:
    assert str(parse_spec(value)) == value


def test_fields_of_a_spec() -> None:
    spec = parse_spec("ubuntu:16.04")
    assert (spec.family, spec.version, spec.package_family, spec.suite) == ("ubuntu", "16.04", "apt", "xenial")
    assert spec.id == "ubuntu-16.04"
    assert parse_spec("centos:7").package_family == "rpm"
    assert not parse_spec("rockylinux:9").can_bootstrap


@pytest.mark.parametrize("alias", ["debian:bookworm", "debian-12", " DEBIAN:12 "])
def test_aliases(alias: str) -> None:
    assert parse_spec(alias) == parse_spec("debian:12")


@pytest.mark.parametrize("bad", ["ubuntu:15.10", "ubuntu", "fedora:40", "", "debian:12:1"])
def test_bad_value_names_it_and_lists_the_valid_ones(bad: str) -> None:
    with pytest.raises(UnknownOsSpec) as caught:
        parse_spec(bad)
    message = str(caught.value)
    assert repr(bad) in message
    assert "\n" not in message
    for spec in SUPPORTED:
        assert str(spec) in message


def test_parse_specs_splits_commas_and_keeps_first_order_without_repeats() -> None:
    specs = parse_specs(["ubuntu:16.04", "debian:12, ubuntu:22.04", "ubuntu:16.04"])
    assert [str(s) for s in specs] == ["ubuntu:16.04", "debian:12", "ubuntu:22.04"]


def test_parse_specs_rejects_one_bad_part() -> None:
    with pytest.raises(UnknownOsSpec, match="'ubuntu:99.04'"):
        parse_specs(["debian:12,ubuntu:99.04"])
