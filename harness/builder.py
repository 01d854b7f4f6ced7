"""One image build on the engine's classic builder: its steps reported as they run, its labels, and a
:class:`~harness.errors.BuildFailed` with the output and the command that reproduces it.

The package cache's URL, when a build should use one, is given (``proxy``):
the builder never looks it up, so building the cache's own image needs no guard.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

import docker
from docker.models.images import Image

from harness import labels
from harness.errors import BuildFailed
from harness.progress import Progress, Stopwatch
from harness.spec import OsSpec

#: Each image kind this project builds, as messages name it.
KIND_NAMES = {"vps": "VPS", "bare": "bare VPS", "dind": "Docker-in-Docker", "inner": "inner", "snapshot": "snapshot"}


class Builder:
    """Runs builds on ``client``'s engine, reporting to ``progress``."""

    def __init__(self, client: docker.DockerClient, progress: Progress) -> None:
        self.client = client
        self.progress = progress

    def run(
        self,
        spec: OsSpec,
        tag: str,
        kind: str,
        reproduce: str,
        *,
        proxy: str | None = None,
        extra_labels: dict[str, str] | None = None,
        **build: object,
    ) -> Image:
        """Build ``tag``, an image of ``kind`` for ``spec``, with docker-py's ``api.build`` options ``build``.

        ``reproduce``: the command a human runs to see the failure. ``proxy``: the
        package cache's URL, given as ``http_proxy`` (a predefined build argument:
        in neither the image nor its cache key).
        """
        watch = Stopwatch()
        output: list[str] = []
        error = ""
        step = re.compile(r"^Step (\d+/\d+) : (.*)")
        if proxy:
            given = build.get("buildargs")
            build["buildargs"] = {**(given if isinstance(given, dict) else {}), "http_proxy": proxy}
        stream = self.client.api.build(
            tag=tag,
            labels={
                labels.IMAGE_KIND: kind,
                labels.SPEC: str(spec),
                labels.RECIPE_HASH: tag.rsplit("-", 1)[1],
                **(extra_labels or {}),
            },
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            **build,
        )
        for chunk in stream:
            if "error" in chunk:
                error = str(chunk["error"]).strip()
                output.append(error)
            for line in str(chunk.get("stream", "")).splitlines():
                output.append(line)
                match = step.match(line)
                if match:
                    self.progress(f"build {spec}: step {match[1]} {match[2][:70]} [{watch}]")
        if error:
            what = f"build of the {spec} {KIND_NAMES[kind]} image"
            raise BuildFailed(what, reproduce, output, error.splitlines()[0])
        self.progress(f"build {spec}: done [{watch}]")
        return self.client.images.get(tag)


def build_context(files: dict[str, bytes]) -> io.BytesIO:
    """A build context made in memory: a tar of ``files`` (name: content), rewound."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    context.seek(0)
    return context


def config_lines(config: dict[str, object]) -> list[str]:
    """Dockerfile lines that give an image ``config`` (an image's ``Config``): what flattening would lose.

    >>> config_lines({"Env": ["PATH=/bin"], "Cmd": ["sshd", "-D"], "ExposedPorts": {"22/tcp": {}}})
    ['ENV PATH="/bin"', 'EXPOSE 22/tcp', 'CMD ["sshd", "-D"]']
    """
    env = [str(entry).partition("=") for entry in config.get("Env") or []]  # type: ignore[attr-defined]
    # A Dockerfile substitutes $VARIABLES in ENV, WORKDIR, USER and STOPSIGNAL.
    lines = [f"ENV {key}={json.dumps(value, ensure_ascii=False)}".replace("$", "\\$") for key, _, value in env]
    lines += [f"EXPOSE {port}" for port in sorted(config.get("ExposedPorts") or {})]  # type: ignore[call-overload]
    if config.get("Volumes"):
        lines.append(f"VOLUME {json.dumps(sorted(config['Volumes']))}")  # type: ignore[call-overload]
    for key, instruction in (("WorkingDir", "WORKDIR"), ("User", "USER"), ("StopSignal", "STOPSIGNAL")):
        if config.get(key):
            lines.append(f"{instruction} {config[key]}".replace("$", "\\$"))
    for key, instruction in (("Entrypoint", "ENTRYPOINT"), ("Cmd", "CMD")):
        if config.get(key):
            lines.append(f"{instruction} {json.dumps(config[key], ensure_ascii=False)}")
    return lines
