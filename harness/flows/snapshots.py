"""Provisioned worlds from snapshots: provision once, then start copies in a second or two.

:func:`snapshotted_world` gives a world as its flow's ``provision`` makes it. The
first time, it provisions the world and snapshots each VPS
(:mod:`harness.snapshot`); every later time, on this machine, in this run or
a later one, in any xdist worker, it starts copies of those snapshots and
waits until what the world runs answers (``World.READY``). Each copy is a
pristine provisioned world: no test sees another's changes.

A world's provisioning writes addresses into its servers (an nginx
allow-list, where dockerd listens, known_hosts lines), so a copy must have
the addresses its snapshot had. Docker refuses two networks with one
subnet, so worlds that are snapshotted live on **slots**: /24 subnets of
``VPS_HARNESS_WORLD_SUBNETS`` (default ``10.213.0.0/16``), one process at a
time each (a file lock, held until the world's networks are gone). A world
of several networks (``World.NETWORKS``) splits its /24 among them (a /25
each for two). A world
takes the first free slot among those its content key maps to, and each
slot has its own snapshots: two xdist workers that want the same world at
once provision it once each, the first time, and copy it ever after.

The snapshots' content key is the flow's folder, the shared ``lib/``, the
image recipes (``vps_images/``, the flows' ``images/``), this module and the
flow's driver, the base of the VPS image the world starts from, the variant
and the slot: change any and the world is provisioned again.
What a copy does not carry is :mod:`harness.snapshot`'s list; besides it, a
world's own values (its Jenkins master key, certificate, passwords, tokens:
the fields its class adds) are kept in a file of the machine's world folder
(``HarnessConfig.world_dir``: 0700, the file 0600) named by the snapshots'
key, never in an image: the snapshots' ``vps-harness.world-snapshot`` label
holds the hosts, roles and steps only, and no flow input is left on a host
(``Scripts.run`` removes them). Snapshots whose file is gone are not used:
the world is provisioned again. The servers' own files are test state of
disposable servers: never ship a snapshot. Fields that are this process's own (``LOCAL``: a
folder here, a port forward) are not kept; a copy makes them again
(``World.restored``). A variant a snapshot cannot carry (``NOT_COPIED``: a
world on the host's engine) is provisioned each time.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import os
import sys
import threading
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import docker.errors
from docker.models.networks import Network
from filelock import FileLock, Timeout

import vps_images
from harness import KEY_LABEL, ConfigError, Fleet, HarnessError, KeyPair, OsSpec, Snapshot, Vps, made_once, recipe_key
from harness.flows.world import FLOWS, LIB, Step, World, at_once

W = TypeVar("W", bound=World)

#: The label on a world's snapshots that holds what a copy of the world needs besides its VPSes.
WORLD_LABEL = "vps-harness.world-snapshot"
#: How many slots one world may take at once (one per concurrent user of it).
SLOTS = 8
#: How long to wait for a slot when all of a world's slots are taken.
SLOT_TIMEOUT = 1800.0


def subnets() -> ipaddress.IPv4Network:
    """Where the networks of snapshotted worlds get their /24s (``VPS_HARNESS_WORLD_SUBNETS``)."""
    text = os.environ.get("VPS_HARNESS_WORLD_SUBNETS", "10.213.0.0/16")
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as e:
        raise ConfigError(f"VPS_HARNESS_WORLD_SUBNETS={text!r} is not an IPv4 network such as 10.213.0.0/16") from e
    if network.prefixlen > 24:
        raise ConfigError(f"VPS_HARNESS_WORLD_SUBNETS={text!r} holds no /24; give one of /24 or larger")
    return network


def _slots(key: str) -> list[str]:
    """The /24s a world of content key ``key`` may live on, in the order it tries them."""
    pool = list(subnets().subnets(new_prefix=24))
    first = int(key[:8], 16) % len(pool)
    return [str(pool[(first + i) % len(pool)]) for i in range(min(SLOTS, len(pool)))]


def _take_slot(lock_dir: Path, key: str, busy: set[str]) -> tuple[str, FileLock]:
    """Lock the first free slot of ``key`` not in ``busy`` (waiting for one when all are taken)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    candidates = [subnet for subnet in _slots(key) if subnet not in busy]
    if not candidates:
        raise RuntimeError(
            f"every subnet a world may use is taken by networks on this engine: {sorted(busy)}; remove them "
            "(kept worlds: vps-harness gc) or give VPS_HARNESS_WORLD_SUBNETS a free range"
        )
    deadline = time.monotonic() + SLOT_TIMEOUT
    while True:
        for subnet in candidates:
            lock = FileLock(str(lock_dir / f"world-subnet-{subnet.replace('/', '_')}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            return subnet, lock
        if time.monotonic() > deadline:
            raise TimeoutError(f"no world subnet of {candidates} was free for {SLOT_TIMEOUT:.0f} s")
        time.sleep(0.2)


def snapshotted_world(provision: Callable[..., W], fleet: Fleet, spec: OsSpec, variant: str, *, flow: str) -> W:
    """The ``flow`` world ``provision(fleet, spec, variant, networks=...)`` makes: a copy of its snapshots.

    Without snapshots yet, the world is provisioned, snapshotted, and
    replaced by a copy, as every later one is: made once on the machine
    (:func:`harness.locks.made_once`, the primitive of ``Fleet.provisioned``
    too). The key counts the folder of ``provision``'s module and that
    module (the driver); the copy is of the class ``provision`` returns.
    """
    module = sys.modules[provision.__module__]
    driver = Path(str(module.__file__))
    folder = driver.parent
    cls: type[W] = typing.get_type_hints(provision)["return"]
    if variant in cls.NOT_COPIED:
        return provision(fleet, spec, variant)
    plain = fleet.image(spec)
    # Every recipe its images come from (the VPS images', the flows' inner images) and its scripts.
    recipe = (folder, LIB, FLOWS / "images", vps_images.ROOT, driver, Path(__file__))
    key_of_slot = recipe_key(recipe, flow, variant, plain.tag)
    subnet, networks = _slot_networks(fleet, flow, cls.NETWORKS, key_of_slot, cls.UNMASQUERADED)
    salt = (flow, variant, plain.tag, subnet)
    key = recipe_key(recipe, *salt)
    timings: dict[str, float] = {}

    def make() -> tuple[dict[str, Any], dict[str, Snapshot]]:
        provisioning = time.monotonic()
        world = provision(fleet, spec, variant, networks=networks)
        provisioned_in = time.monotonic() - provisioning
        try:
            _snapshot(fleet, world, key, recipe, salt)
        finally:
            world.close()
            timings.update(world.timings, provisioning=provisioned_in)  # its snapshot's seconds too
        # Its VPSes would come back on new addresses, so the world is replaced by a copy on the same ones.
        fleet.discard(*world.hosts.values(), *networks.values())
        found = _find(fleet, spec, key)
        if found is None:  # another process pruned them, or removed the values' file, in between
            raise HarnessError(
                f"the {flow} world's snapshots were just made and are gone: was `vps-harness images prune` running?"
            )
        return found

    what = f"snapshots of the {flow} world ({variant}) of {spec}"
    found, made = made_once(fleet.images.lock, f"world-{key[:16]}", what, lambda: _find(fleet, spec, key), make)
    if made:
        networks = _networks(fleet, flow, cls.NETWORKS, subnet, cls.UNMASQUERADED)
    copy = _restore(fleet, found, networks, cls)
    copy.timings = {**timings, **copy.timings}
    return copy


def _networks(
    fleet: Fleet, flow: str, names: tuple[str, ...], slot: str, unmasqueraded: tuple[str, ...] = ()
) -> dict[str, Network]:
    """The networks ``names`` of a ``flow`` world on the /24 ``slot``, which they split (a /25 each for two)."""
    bits = (len(names) - 1).bit_length()
    parts = ipaddress.IPv4Network(slot).subnets(prefixlen_diff=bits)
    made: dict[str, Network] = {}
    try:
        for name, part in zip(names, parts):
            made[name] = fleet.network(f"{flow}-{name}", subnet=str(part), masquerade=name not in unmasqueraded)
    except BaseException:
        fleet.discard(*made.values())
        raise
    return made


def _slot_networks(
    fleet: Fleet, flow: str, names: tuple[str, ...], key: str, unmasqueraded: tuple[str, ...] = ()
) -> tuple[str, dict[str, Network]]:
    """The networks of a world of ``key`` on a free slot; the slot is its until the fleet closes."""
    busy: set[str] = set()
    while True:
        subnet, lock = _take_slot(fleet.images.config.lock_dir, key, busy)
        try:
            networks = _networks(fleet, flow, names, subnet, unmasqueraded)
        except BaseException as e:
            lock.release()
            if not isinstance(e, docker.errors.APIError) or "overlap" not in str(e).lower():
                raise
            busy.add(subnet)  # a network that is not a world's of this machine (or a kept one) has it
            continue
        fleet.on_close(lock.release)
        return subnet, networks


def _find(fleet: Fleet, spec: OsSpec, key: str) -> tuple[dict[str, Any], dict[str, Snapshot]] | None:
    """The manifest (with the world's values) and host snapshots of the world of ``key``, when every
    snapshot and the values' file are here."""
    rows = fleet.client.api.images(filters={"label": [f"{KEY_LABEL}={key}", WORLD_LABEL]})
    kept = _values_file(fleet, key)
    if not rows or not kept.is_file():
        return None
    manifest = json.loads(rows[0]["Labels"][WORLD_LABEL])
    manifest["values"] = json.loads(kept.read_text())
    manifest["key"] = key
    found = {}
    for name, host in manifest["hosts"].items():
        snap = Snapshot.find(fleet.client, Snapshot.tag_for(spec, host["name"], key))
        if snap is None:
            return None
        found[name] = snap
    return manifest, found


def _values_file(fleet: Fleet, key: str) -> Path:
    """Where the values of the world of ``key`` on the fleet's engine are kept (each engine has its own
    snapshots of a world, with their own keys and passwords)."""
    engine = fleet.images.engine_name
    return fleet.images.config.world_dir / (f"{engine}-{key}.json" if engine else f"{key}.json")


def _keep_values(fleet: Fleet, key: str, values: dict[str, Any]) -> None:
    """Write a world's values to its file: a folder of 0700, a file of 0600 from its first byte."""
    folder = fleet.images.config.world_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = _values_file(fleet, key)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(values, out)
    partial.replace(path)


def _snapshot(fleet: Fleet, world: World, key: str, recipe: tuple[Path, ...], salt: tuple[str, ...]) -> None:
    """Snapshot every VPS of ``world`` under ``key``, with the world's manifest; they are left powered off.
    The world's values go to its file in the world folder, not into the images."""
    with world.timing("snapshot"):
        manifest = {
            "flow": world.flow,
            "variant": world.variant,
            "roles": world.roles,
            "hosts": {
                name: {
                    "name": vps.name,
                    "aliases": list(vps.aliases),
                    "addresses": world.addresses(vps),
                    "published": vps.published,
                    "default_bridge": vps.default_bridge,
                }
                for name, vps in world.hosts.items()
            },
            "steps": [[step.host, step.script, list(step.changed), step.seconds] for step in world.steps],
        }
        text = json.dumps(manifest)
        options = {"recipe": recipe, "salt": salt, "extra_labels": {WORLD_LABEL: text}, "power_on": False}
        at_once([functools.partial(vps.snapshot, key, **options) for vps in world.hosts.values()], list(world.hosts))
        # After the images: the values of a world are forgotten when no image carries its key.
        _keep_values(fleet, key, _values(world))


def _restore(
    fleet: Fleet, found: tuple[dict[str, Any], dict[str, Snapshot]], networks: dict[str, Network], cls: type[W]
) -> W:
    """A copy of a world: its VPSes from their snapshots at their addresses on ``networks``, ready."""
    manifest, snaps = found
    started = time.monotonic()
    first = [name for name in snaps if name in cls.BOOTS_FIRST]
    launched = threading.Semaphore(0)

    def restore(name: str, snap: Snapshot) -> Vps:
        if name not in first:
            for _ in first:  # their containers run, so their names resolve
                launched.acquire()
            for _ in first:
                launched.release()
        host = manifest["hosts"][name]
        done = threading.Event()

        def release() -> None:  # once, and also when it fails: the others must not wait for ever
            if name in first and not done.is_set():
                done.set()
                launched.release()

        try:
            return fleet.restore(
                snap,
                networks=[networks[net] for net in host["addresses"]],
                aliases=host["aliases"],
                addresses={str(networks[net].name): address for net, address in host["addresses"].items()},
                publish_ssh=host["published"],
                default_bridge=host["default_bridge"],
                on_launch=release,
            )
        finally:
            release()

    hosts = at_once([functools.partial(restore, name, snap) for name, snap in snaps.items()], list(snaps))
    world = cls(
        flow=manifest["flow"],
        variant=manifest["variant"],
        os=next(iter(snaps.values())).os,
        networks=networks,
        hosts=dict(zip(snaps, hosts)),
        roles=manifest["roles"],
        steps=[Step(host, script, tuple(changed), seconds, "") for host, script, changed, seconds in manifest["steps"]],
        timings={"starts": time.monotonic() - started},
        snapshot_key=manifest["key"],
        **_from_values(manifest["values"]),
    )
    try:
        world.ready()
        world.restored(fleet)
    except BaseException:
        world.close()
        raise
    return world


def _values(world: World) -> dict[str, Any]:
    """The fields a flow's world class adds, as JSON (a key pair as its two texts)."""
    base = {f.name for f in dataclasses.fields(World)}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(world):
        if f.name in base or f.metadata.get("snapshot", True) is False:
            continue
        value = getattr(world, f.name)
        if isinstance(value, KeyPair):
            values[f.name] = {"keypair": [value.private, value.public]}
        elif isinstance(value, (str, int, float, bool, dict, list)) or value is None:
            values[f.name] = value
        else:
            raise TypeError(f"{type(world).__name__}.{f.name} ({type(value).__name__}) cannot be kept in a snapshot")
    return values


def _from_values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: KeyPair(*value["keypair"]) if isinstance(value, dict) and set(value) == {"keypair"} else value
        for name, value in values.items()
    }
