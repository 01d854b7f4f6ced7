"""The wheel, installed in a fresh virtualenv and run outside the repository, works.

An image's tag hashes every recipe file with its executable bit
(``harness.images.recipe_hash``), so the installed command computing the
same tag as the source tree proves the wheel carries every recipe file and
keeps its mode.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.errors import ImageUnavailable
from harness.images import Images
from harness.spec import OsSpec, parse_specs

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "vps_images"
# A build backend's Python warnings ("BuildBackendWarning: Package 'vps_images.apt' is absent
# from the `packages` configuration"), and any other line that warns about a package.
BUILD_WARNING = re.compile(r"\w+Warning:|(?i:warning.*package|package.*warning)")
# Not copied for the build: VCS, virtualenvs, caches, and build leftovers (a
# stale build/lib would go into the wheel).
SKIP_AT_TOP = {".git", ".venv", ".tox", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def source_copy(dest: Path) -> Path:
    """The repository's files, for a build that neither sees nor leaves anything in the work tree."""

    def skip(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == REPO
        return {n for n in names if n == "__pycache__" or n.endswith(".egg-info") or (top and n in SKIP_AT_TOP)}

    shutil.copytree(REPO, dest, ignore=skip)
    return dest


def run(command: list[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def tree(root: Path) -> dict[str, tuple[bool, bytes]]:
    """Every file under ``root`` but bytecode: relative path -> (executable, content)."""
    return {
        path.relative_to(root).as_posix(): (os.access(path, os.X_OK), path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def outside_env(venv: Path) -> dict[str, str]:
    """The test's environment (Docker, cache dir, CI) with nothing of the repository or its venv on a path."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    own_bin = str(Path(sys.prefix) / "bin")
    path = [entry for entry in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if entry and entry != own_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return env


def test_installed_wheel_outside_the_repo_builds_the_source_trees_image(
    tmp_path: Path, pytestconfig: pytest.Config, vps_engine: docker.DockerClient
) -> None:
    # The session's first OS: its image is the one the suite builds first.
    spec: OsSpec = parse_specs(pytestconfig.getoption("vps") or pytestconfig.getini("vps"))[0]
    try:
        source_image = Images(vps_engine, recipes=RECIPES).vps(spec)
    except ImageUnavailable as e:
        if spec.can_bootstrap:
            raise
        pytest.skip(f"no {spec} image on this machine: {e}")
    if not vps_engine.images.get(source_image.tag).attrs.get("Parent"):
        # Loaded from an archive (`images load`: a CI cache hit), not built on this engine: the
        # builder has no cache of its steps, so the source tree builds it here first.
        source_image = Images(vps_engine, recipes=RECIPES).vps(spec, rebuild=True)

    dist = tmp_path / "dist"
    copy = source_copy(tmp_path / "source")
    build = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(copy)],
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if BUILD_WARNING.search(line)]
    assert not warnings, "the wheel's build warns:\n" + "\n".join(warnings)
    (wheel,) = dist.glob("vps_harness-*.whl")

    # A venv of its own, filled by this pip (--python): its dependencies come
    # from pip's cache as any install's do.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    python = venv / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        timeout=600,
        stdin=subprocess.DEVNULL,
    )

    env = outside_env(venv)
    where = run(
        [str(python), "-c", "import harness, vps_images; print(vps_images.ROOT); print(harness.__file__)"],
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    root, harness_file = (Path(line).resolve() for line in where.stdout.splitlines())
    assert root.is_relative_to(venv.resolve()) and not root.is_relative_to(REPO), root
    assert harness_file.is_relative_to(venv.resolve()), harness_file

    # Every recipe file, its content and executable bit, as in the source tree
    # (the wheel's bytecode aside): says which file differs, before any build.
    installed, recipes = tree(root), tree(RECIPES)
    differing = sorted(name for name in installed.keys() | recipes.keys() if installed.get(name) != recipes.get(name))
    assert not differing, f"installed recipe files unlike {RECIPES}'s (missing, extra, content or mode): {differing}"

    command = [str(venv / "bin" / "vps-harness"), "images", "build", str(spec)]
    cached = run(command, timeout=600, cwd=tmp_path, env=env)
    fields = cached.stdout.strip().split("\t")
    assert fields[:2] == [str(spec), source_image.tag], cached.stdout + cached.stderr
    assert fields[2].startswith("cached in "), f"the installed command built what the source tree had: {fields[2]}"
    # And a real build from the installed recipes: every step a cache hit of
    # the source tree's build, so the very same image comes out.
    rebuilt = run([*command, "--rebuild"], timeout=600, cwd=tmp_path, env=env)
    fields = rebuilt.stdout.strip().split("\t")
    assert fields[:2] == [str(spec), source_image.tag] and fields[2].startswith("built in "), rebuilt.stdout
    assert vps_engine.images.get(source_image.tag).id == source_image.image_id, "the same layers, the same image"
