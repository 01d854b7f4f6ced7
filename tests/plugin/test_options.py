"""The plugin's options and matrix, through pytester (no Docker needed)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MATRIX_TEST = """
def test_os(vps_os):
    assert vps_os.family in ("ubuntu", "debian")
"""


def test_matrix_ids_follow_repeated_and_comma_separated_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--vps=ubuntu:16.04", "--vps=debian:12,ubuntu:22.04", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["*test_os[[]ubuntu-16.04[]]", "*test_os[[]debian-12[]]", "*test_os[[]ubuntu-22.04[]]", "3 tests collected*"]
    )


def test_default_matrix_is_debian_12_and_ini_overrides(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["*test_os[[]debian-12[]]", "1 test collected*"])
    pytester.makeini("[pytest]\nvps = ubuntu:16.04\n")
    pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["*test_os[[]ubuntu-16.04[]]"])


def test_bad_vps_value_stops_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--vps=ubuntu:15.10")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --vps: unknown OS spec 'ubuntu:15.10'; valid: ubuntu:16.04, *rockylinux:9"])


def test_a_bad_setting_stops_the_run_with_one_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(MATRIX_TEST)
    monkeypatch.setenv("VPS_HARNESS_PACKAGE_CACHE", "sometimes")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: VPS_HARNESS_PACKAGE_CACHE='sometimes' is not 1, 0 or offline"])


def test_marker_os_deselects_entries_outside_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.vps(os=["debian:12"])
        def test_only_debian(vps_os):
            assert str(vps_os) == "debian:12"
        """
    )
    result = pytester.runpytest("--vps=ubuntu:16.04,debian:12", "-q")
    result.assert_outcomes(passed=1, deselected=1)


def test_bad_vps_docker_value_names_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--vps-docker=podman")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vps-docker: invalid choice: 'podman' (choose from *none*dind*socket*)"])


def test_bad_vps_prepare_ini_value_names_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    pytester.makeini("[pytest]\nvps_prepare = everything\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: vps_prepare = 'everything': use one of no, images, dind"])


def test_prepare_builds_nothing_for_tests_that_start_no_vps(pytester: pytest.Pytester) -> None:
    """With vps_prepare on, a test that asks for no VPS still needs no engine: preparing is lazy."""
    pytester.makepyfile(MATRIX_TEST)
    pytester.makeini("[pytest]\nvps_prepare = dind\n")
    result = pytester.runpytest("--vps=ubuntu:16.04", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_docker_marker_is_not_pushed_into_users_suites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.docker\ndef test_x():\n    pass\n")
    # In a subprocess: pytest remembers registered markers per process, and this one has ours.
    result = pytester.runpytest_subprocess("--strict-markers", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*'docker' not found in `markers` configuration option*"])
