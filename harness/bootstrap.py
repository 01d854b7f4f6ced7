"""Base images from a distribution's own package archive, with no registry.

``debootstrap --variant=minbase`` builds a root file system from the suite's
default mirror (debootstrap's own script chooses it), checking the archive's
signature: Debian against the installed ``debian-archive-keyring``, Ubuntu
against the archive keys shipped in ``vps_images/keys`` and pinned below by
fingerprint. The tree is streamed into ``docker import``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import subprocess
import typing
from pathlib import Path
from typing import IO

import docker
from docker.models.images import Image

import vps_images
from harness import labels, tools
from harness.errors import BuildFailed, ImageUnavailable
from harness.progress import Progress, Stopwatch, stderr_progress
from harness.spec import OsSpec

#: Ubuntu Archive Automatic Signing Keys (2012) and (2018): the only keys a
#: Ubuntu bootstrap trusts. The key file must hold exactly these.
UBUNTU_ARCHIVE_FINGERPRINTS = frozenset(
    {
        "790BC7277767219C42C86F933B4FE6ACC0B21F32",
        "F6ECB3762474EDA9D21B7022871920D1991BC93C",
    }
)
UBUNTU_KEY_FILE = vps_images.KEYS / "ubuntu-archive-keyring.asc"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

#: debootstrap's stages, each reported the first time it prints it.
_STAGES = ("Retrieving", "Resolving", "Extracting", "Installing", "Unpacking", "Configuring")

#: Suites newer than the installed debootstrap knows use the script their
#: family's recent releases all share.
_FALLBACK_SCRIPT = {"ubuntu": "gutsy", "debian": "sid"}


def dearmor(text: str) -> bytes:
    """The binary packets inside an ASCII-armored OpenPGP block."""
    lines = text.strip().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP"))
    except StopIteration:
        raise ValueError("not an ASCII-armored OpenPGP block") from None
    body = lines[start + 1 : end]
    if "" in body:  # armor headers end at the first blank line
        body = body[body.index("") + 1 :]
    return base64.b64decode("".join(line for line in body if not line.startswith("=")))


def key_fingerprints(data: bytes) -> list[str]:
    """Fingerprints of the v4 primary public keys in binary OpenPGP ``data``."""
    fingerprints = []
    offset = 0
    while offset < len(data):
        header = data[offset]
        if not header & 0x80:
            raise ValueError(f"not an OpenPGP packet at byte {offset}")
        if header & 0x40:  # new format
            tag = header & 0x3F
            first = data[offset + 1]
            if first < 192:
                length, skip = first, 2
            elif first < 224:
                length, skip = ((first - 192) << 8) + data[offset + 2] + 192, 3
            elif first == 255:
                length, skip = int.from_bytes(data[offset + 2 : offset + 6], "big"), 6
            else:
                raise ValueError("partial-length packets do not occur in key files")
        else:  # old format
            tag = (header >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(header & 0x03)
            if size is None:
                raise ValueError("indeterminate-length packets do not occur in key files")
            length = int.from_bytes(data[offset + 1 : offset + 1 + size], "big")
            skip = 1 + size
        body = data[offset + skip : offset + skip + length]
        if tag == 6 and body[:1] == b"\x04":
            digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body)
            fingerprints.append(digest.hexdigest().upper())
        offset += skip + length
    return fingerprints


def pinned_ubuntu_keyring(path: Path = UBUNTU_KEY_FILE) -> bytes:
    """The Ubuntu archive keyring, after checking it holds exactly the pinned keys."""
    data = dearmor(path.read_text())
    found = set(key_fingerprints(data))
    if found != UBUNTU_ARCHIVE_FINGERPRINTS:
        raise ImageUnavailable(
            f"{path} holds keys {sorted(found)}, not the pinned Ubuntu archive keys "
            f"{sorted(UBUNTU_ARCHIVE_FINGERPRINTS)}; restore it from the repository"
        )
    return data


def debootstrap_command(spec: OsSpec, rootfs: Path, keyring: Path | None) -> list[str]:
    """The debootstrap call for ``spec``; no mirror: the suite script's default."""
    components = "main,universe" if spec.family == "ubuntu" else "main"
    command = ["debootstrap", "--variant=minbase", f"--components={components}"]
    command.append(f"--keyring={keyring}" if keyring else "--no-check-gpg")
    return [*command, spec.suite, str(rootfs)]


def _scripts_overlay(spec: OsSpec, work: Path) -> Path | None:
    """A DEBOOTSTRAP_DIR that knows ``spec.suite`` when the installed one does not."""
    system = Path(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap"))
    if (system / "scripts" / spec.suite).exists():
        return None
    overlay = work / "debootstrap"
    (overlay / "scripts").mkdir(parents=True)
    for entry in system.iterdir():
        if entry.name != "scripts":
            (overlay / entry.name).symlink_to(entry)
    for script in (system / "scripts").iterdir():
        (overlay / "scripts" / script.name).symlink_to(script)
    (overlay / "scripts" / spec.suite).symlink_to(system / "scripts" / _FALLBACK_SCRIPT[spec.family])
    return overlay


def bootstrap_rootfs(spec: OsSpec, work: Path, *, verify: bool = True, progress: Progress = stderr_progress) -> Path:
    """Run debootstrap for ``spec`` into ``work/rootfs`` and return that path."""
    if not spec.can_bootstrap:
        raise ImageUnavailable(f"{spec} is an {spec.package_family} system; only apt-family bases can be bootstrapped")
    debootstrap = tools.find("debootstrap", f"building a base image of {spec} (none could be pulled)")
    if verify:
        tools.find("gpgv", f"checking the archive signatures of {spec}")
    rootfs = work / "rootfs"
    keyring: Path | None = None
    if not verify:
        progress(f"WARNING: bootstrapping {spec} WITHOUT checking archive signatures (VPS_HARNESS_INSECURE_BOOTSTRAP)")
    elif spec.family == "ubuntu":
        keyring = work / "ubuntu-archive-keyring.gpg"
        keyring.write_bytes(pinned_ubuntu_keyring())
    else:
        if not DEBIAN_KEYRING.exists():
            raise ImageUnavailable(f"bootstrapping {spec} needs {DEBIAN_KEYRING}; install debian-archive-keyring")
        keyring = DEBIAN_KEYRING
    command = [debootstrap, *debootstrap_command(spec, rootfs, keyring)[1:]]
    env = tools.environment()
    overlay = _scripts_overlay(spec, work)
    if overlay:
        env["DEBOOTSTRAP_DIR"] = str(overlay)
    watch = Stopwatch()
    progress(f"bootstrap {spec}: debootstrap {spec.suite} (minbase) from the archive's default mirror")
    output: list[str] = []
    seen: set[str] = set()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, errors="replace"
    ) as proc:
        for line in typing.cast(IO[str], proc.stdout):  # stdout=PIPE: never None
            output.append(line.rstrip("\n"))
            words = line.split()
            if len(words) > 1 and words[0] == "I:" and words[1] in _STAGES and words[1] not in seen:
                seen.add(words[1])
                progress(f"bootstrap {spec}: {words[1].lower()} [{watch}]")
    if proc.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        if log.exists():
            output += log.read_text(errors="replace").splitlines()
        reproduce = shlex.join(command)
        if overlay:
            reproduce = f"DEBOOTSTRAP_DIR=<overlay with {spec.suite} -> {_FALLBACK_SCRIPT[spec.family]}> {reproduce}"
        raise BuildFailed(f"bootstrap of {spec}", reproduce, output, f"debootstrap exited {proc.returncode}")
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    progress(f"bootstrap {spec}: done [{watch}]")
    return rootfs


def import_rootfs(
    client: docker.DockerClient, rootfs: Path, reference: str, spec: OsSpec, progress: Progress = stderr_progress
) -> Image:
    """Stream ``rootfs`` into ``docker import`` as ``reference`` (repo:tag)."""
    repository, tag = reference.rsplit(":", 1)
    changes = [
        f"LABEL {labels.IMAGE_KIND}=base {labels.SPEC}={spec}",
        'CMD ["/bin/bash"]',
    ]
    watch = Stopwatch()
    tar = subprocess.Popen(
        [tools.find("tar", f"importing {spec}"), "--numeric-owner", "-C", str(rootfs), "-c", "."],
        stdout=subprocess.PIPE,
    )
    try:
        client.api.import_image(src=tar.stdout, repository=repository, tag=tag, changes=changes, stream_src=True)
    finally:
        typing.cast(IO[bytes], tar.stdout).close()  # stdout=PIPE: never None
        tar.wait()
    if tar.returncode != 0:
        raise BuildFailed(
            f"import of {spec}",
            f"tar -C {rootfs} -c . | docker import - {reference}",
            [],
            f"tar exited {tar.returncode}",
        )
    progress(f"bootstrap {spec}: imported as {reference} [{watch}]")
    return client.images.get(reference)
