"""A fleet: the VPSes and networks one test (or one CLI call) makes.

It names them uniquely per session and xdist worker, labels them, and
removes them, by id, when closed.

>>> fleet = Fleet(client, images, session="abc", identity=Identity.fresh())  # doctest: +SKIP
>>> web = fleet.vps("debian:12", name="web")  # doctest: +SKIP
>>> fleet.close()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types
from docker.models.networks import Network

from harness import labels, snapshot
from harness.errors import SeveralFailed, UsageError
from harness.identity import Identity
from harness.images import Images, InnerImage, VpsImage, recipe_key
from harness.launch import ContainerPlan
from harness.locks import made_once
from harness.reaper import KEPT_PREFIX
from harness.seeding import seeder
from harness.snapshot import Snapshot
from harness.spec import OsSpec
from harness.vps import Vps
from harness.want import FIXED_BY_IMAGE, PLACEMENT, DockerMode, VpsWant

_counter = itertools.count(1)

T = TypeVar("T")


def at_once(calls: Iterable[Callable[[], T]], names: Iterable[str] = ()) -> list[T]:
    """Run ``calls`` concurrently; their results in order, once every one has finished.

    One failure is raised as it is; several become one :class:`SeveralFailed`
    naming each (by ``names``, else by position), raised from the first.
    """
    calls = list(calls)
    labels_of = list(names) or [f"#{i + 1}" for i in range(len(calls))]
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        wait(futures)
    failures = [(label, error) for label, f in zip(labels_of, futures) if (error := f.exception()) is not None]
    _raise_failures(failures, len(calls))
    return [f.result() for f in futures]


def _raise_failures(failures: list[tuple[str, BaseException]], total: int) -> None:
    """Raise one failure as it is; several as one :class:`SeveralFailed` naming each, from the first."""
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise SeveralFailed(failures, total) from failures[0][1]


def _unwrapped(provision: Callable[..., object]) -> tuple[Callable[..., object], list[str]]:
    """The function ``provision`` calls in the end, and what it takes from outside that function's file."""
    outside: list[str] = []
    function: Any = provision
    while isinstance(function, functools.partial):
        if function.args or function.keywords:
            outside.append("a partial's arguments")
        function = function.func
    if inspect.ismethod(function):
        outside.append(f"its object ({type(function.__self__).__name__})")
        function = function.__func__
    code = getattr(function, "__code__", None)
    if code is None:
        raise TypeError(f"provision must be a Python function or method, not {type(function).__name__}")
    outside.extend(f"variable {name!r}" for name in code.co_freevars)
    return function, outside


class Fleet:
    """Makes VPSes and networks for one owner and removes them all on close.

    ``identity``: the client key the VPSes let in, and where their keys,
    known_hosts and ssh_config files go. ``owner_labels``: what marks the
    owner (default: this session and process, so the reaper knows when the
    owner is gone).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        images: Images,
        *,
        session: str,
        identity: Identity,
        owner_labels: dict[str, str] | None = None,
        worker: str = "",
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.client = client
        self.images = images
        self.session = session
        self.identity = identity
        self.owner_labels = owner_labels or labels.owner_labels(session)
        self.progress = progress
        self.worker = worker or os.environ.get("PYTEST_XDIST_WORKER", "")
        self.vpses: list[Vps] = []
        self.networks: list[Network] = []
        self._on_close: list[Callable[[], None]] = []
        self._images: dict[tuple[OsSpec, DockerMode, tuple[InnerImage, ...]], VpsImage] = {}
        self._config_name = self._unique("ssh_config")

    def _unique(self, name: str) -> str:
        return f"{name}-{self.session}{('-' + self.worker) if self.worker else ''}-{next(_counter)}"

    def want(self, wanted: VpsWant | OsSpec | str, **fields: Any) -> VpsWant:
        """``wanted`` with ``fields`` (see :meth:`VpsWant.of`), named ``vpsN`` (its place in the fleet) if unnamed."""
        return self._named(VpsWant.of(wanted, **fields), len(self.vpses) + 1)

    @staticmethod
    def _named(want: VpsWant, place: int) -> VpsWant:
        """``want``, or, when it has no name, the same named by its place in the fleet (``vps3``)."""
        return want if want.name else dataclasses.replace(want, name=f"vps{place}")

    def vps(
        self,
        wanted: VpsWant | OsSpec | str,
        /,
        *,
        image: VpsImage | None = None,
        container_name: str | None = None,
        **fields: Any,
    ) -> Vps:
        """Start the VPS ``wanted`` and wait until it is ready (see :meth:`Vps.create`).

        ``wanted``: a :class:`VpsWant`, or an OS, with a want's fields as
        keywords (``fleet.vps(spec, name="web", docker="dind")``). Its
        container is named uniquely for this session and worker, unless
        ``container_name`` is given; ``image``, when the caller resolved it
        already, saves resolving it again.
        """
        want = self.want(wanted, **fields)
        vps = self._create(image or self.image(want.os, want.docker, want.inner), want, container_name=container_name)
        self.vpses.append(vps)
        return vps

    def start(self, *wanted: VpsWant) -> list[Vps]:
        """Start several VPSes at once (each a :class:`VpsWant`); they come back in order.

        Their images are resolved first, one after the other; then the engine
        calls and the readiness waits overlap, so three VPSes are ready in
        about the time of one plus the machine's contention. When some fail,
        the rest still finish, stay in the fleet (removed with it), and the
        error names each failure.

        >>> web, db = fleet.start(VpsWant(spec, name="web"), VpsWant(spec, name="db"))  # doctest: +SKIP
        """
        # Default names now: the threads would all count the same VPSes.
        wants = [self._named(VpsWant.of(want), len(self.vpses) + i + 1) for i, want in enumerate(wanted)]
        images = [self.image(want.os, want.docker, want.inner) for want in wants]
        calls = [functools.partial(self.vps, want, image=image) for want, image in zip(wants, images)]
        return at_once(calls, [want.name for want in wants])

    def restore(self, snapshot: Snapshot, /, *, on_launch: Callable[[], None] = lambda: None, **placement: Any) -> Vps:
        """Start a copy of ``snapshot`` (see :mod:`harness.snapshot`) and wait until it is ready.

        It is named ``name`` (default: the snapshot's name, its host name
        too) and presents the snapshot's host key. ``placement``: where it sits
        (a :class:`VpsWant`'s ``networks``, ``aliases``, ``addresses``,
        ``publish_ssh``, ``default_bridge``); its OS, init, Docker mode and
        inner images are the snapshot's. ``on_launch``: called once its
        container runs (its name resolves on its networks), before the wait
        for its boot.
        """
        fixed = [word for word in FIXED_BY_IMAGE if placement.get(word)]
        if fixed:
            raise UsageError(f"a copy of snapshot {snapshot.tag} is what the snapshot was; drop {', '.join(fixed)}")
        placement = {word: value for word, value in placement.items() if word not in FIXED_BY_IMAGE}
        placement["name"] = placement.get("name") or snapshot.name
        want = VpsWant.of(snapshot.os, init=snapshot.init, docker=snapshot.docker, **placement)
        vps = self._create(snapshot.image(), want, on_launch=on_launch)
        self.vpses.append(vps)
        return vps

    def provisioned(
        self,
        wanted: VpsWant | OsSpec | str,
        provision: Callable[[Vps], object],
        /,
        *,
        recipe: tuple[Path, ...] | list[Path] = (),
        salt: tuple[str, ...] | list[str] = (),
        **fields: Any,
    ) -> Vps:
        """A copy of the VPS ``wanted`` that ``provision(vps)`` provisioned, once per machine (a snapshot).

        The first call on the machine starts a VPS named as ``wanted`` says
        (default: ``provision``'s name), provisions it, snapshots it and replaces it
        with a copy; every later one, in this process or another, an xdist
        worker or a later run, starts a copy. Processes that want the same
        snapshot at once provision it once; the others wait for it. A copy
        has the name (and host name) the VPS had, its place (networks,
        aliases, addresses) as ``wanted`` says, and addresses of its own
        (see :mod:`harness.snapshot` for what it carries).

        The snapshot's key is what decides the result, as far as the harness
        can see it: the content of ``recipe`` (files or folders: the scripts
        ``provision`` applies) and of the file ``provision`` is defined in,
        ``provision``'s name, the VPS image, the name, init and Docker mode,
        and ``salt``. Change any and the VPS is provisioned again. Values
        ``provision`` takes from outside its file (a closure's variables, a
        partial's arguments, a bound method's object) are not in it, so such
        a ``provision`` needs ``salt`` naming them.

        >>> web = fleet.provisioned(spec, install_nginx, recipe=[Path("install-nginx.sh")])  # doctest: +SKIP
        """
        want = VpsWant.of(wanted, **fields)
        function, outside = _unwrapped(provision)
        origin = f"{function.__module__}.{function.__qualname__}"
        if outside and not salt:
            raise ValueError(
                f"provision {origin} takes {', '.join(outside)} from outside its file, which the key of its "
                "snapshot cannot see: give them as salt=[...] (e.g. salt=[package]), or define it at module level"
            )
        name = want.name or re.sub(r"[^a-z0-9]+", "-", function.__name__.lower()).strip("-") or "provisioned"
        snapshot.refuse(name, want.docker)
        image = self.image(want.os, want.docker, want.inner)
        source = inspect.getsourcefile(function)
        paths = (*recipe, Path(source)) if source else tuple(recipe)
        lines = (origin, image.tag, name, want.init, want.docker, *salt)
        key = recipe_key(paths, *lines)
        tag = snapshot.tag_for(want.os, name, key)

        def make() -> Snapshot:
            # Provisioned where any VPS is: on the engine's bridge alone. A provisioning that
            # fails leaves its VPS in the fleet: the failure's report shows it.
            alone = VpsWant(want.os, name=name, init=want.init, docker=want.docker, inner=want.inner)
            vps = self.vps(alone, image=image)
            provision(vps)
            made = vps.snapshot(key, recipe=paths, salt=lines, power_on=False)
            self.discard(vps)
            return made

        what = f"snapshot of {want.os} provisioned by {origin}"
        found, _ = made_once(
            self.images.lock, f"snapshot-{key[:16]}", what, lambda: snapshot.find(self.client, tag), make
        )
        return self.restore(found, name=name, **{word: getattr(want, word) for word in PLACEMENT})

    def _create(
        self,
        image: VpsImage,
        want: VpsWant,
        *,
        container_name: str | None = None,
        owner: dict[str, str] | None = None,
        on_launch: Callable[[], None] = lambda: None,
    ) -> Vps:
        plan = ContainerPlan(
            container_name or self._unique(f"vps-{want.name}"),
            owner or self.owner_labels,
            self.identity,
            # Off the engine's bridge, the package cache (on that bridge) is out of reach: apt goes its own way.
            self.images.package_proxy(image.spec) if want.default_bridge else None,
        )
        return Vps.create(self.client, image, want, plan, on_launch)

    def image(self, spec: OsSpec, docker: DockerMode = "none", inner: Sequence[InnerImage] = ()) -> VpsImage:
        """The image a VPS of ``spec`` starts from; for ``dind``, one whose engine is seeded by a VPS of this fleet.

        ``inner``: images (:meth:`Images.inner`) its engine has besides its base.
        Resolved once per fleet: a world's images, resolved before its VPSes start, are not looked up again.
        """
        want = VpsWant(spec, docker=docker, inner=inner)  # its checks: a mode, inner images only for dind
        key = (want.os, want.docker, tuple(want.inner))
        if key not in self._images:
            if docker != "dind":
                self._images[key] = self.images.vps(spec, bare=docker == "bare")
            else:
                seed = seeder(self.client, self.images, self.identity, self.session)
                self._images[key] = self.images.dind(spec, seed, tuple(inner))
        return self._images[key]

    def network(self, name: str = "net", subnet: str | None = None, masquerade: bool = True) -> Network:
        """A private bridge network, removed with the fleet; ``subnet`` (``10.213.7.0/24``) lets addresses be chosen.

        ``masquerade=False``: what leaves it is not given this machine's address (Docker's
        ``enable_ip_masquerade``), so a host elsewhere that has no route back to it cannot answer.
        """
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]) if subnet else None
        options = {} if masquerade else {"com.docker.network.bridge.enable_ip_masquerade": "false"}
        network = self.client.networks.create(
            self._unique(f"vpsnet-{name}"), driver="bridge", labels=self.owner_labels, ipam=ipam, options=options
        )
        self.networks.append(network)
        return network

    def discard(self, *things: Vps | Network) -> None:
        """Remove these VPSes and networks of the fleet now."""
        for thing in things:
            if isinstance(thing, Vps):
                self.vpses.remove(thing)
                thing.remove()
            else:
                self.networks.remove(thing)
                with contextlib.suppress(docker.errors.NotFound):
                    thing.remove()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the fleet's VPSes and networks are gone (or kept): a lock on what they used."""
        self._on_close.append(callback)

    def _closed(self) -> None:
        while self._on_close:
            self._on_close.pop()()

    def ssh_config(self) -> Path:
        """Write one ssh_config file with a ``Host`` block for every VPS of the fleet; its path.

        Each block is named by the VPS's :attr:`Vps.ssh_alias`; call it again
        after ``jump_to`` or a restart, which may change how a VPS is reached.
        A VPS that is powered off (``stop()``) has no block until it runs again.
        """
        running = []
        for vps in self.vpses:
            vps.container.reload()
            if vps.container.status == "running":
                running.append(vps)
        return self.identity.ssh_config_file((vps.ssh_config() for vps in running), name=self._config_name)

    def keep(self) -> list[Vps]:
        """Keep every VPS running past close (renamed ``kept-…``), for a human to inspect."""
        for vps in self.vpses:
            vps.close()
            self.identity.forget(vps.ssh_alias)
            vps.container.rename(KEPT_PREFIX + vps.container.name)
            vps.container.reload()
        kept, self.vpses, self.networks = self.vpses, [], []
        self._closed()
        return kept

    def close(self) -> None:
        """Remove every VPS, then every network; safe to call twice.

        One that cannot be removed does not keep the others: every removal is
        tried, and then one error names what is left and why (one failure is
        raised as it is).
        """
        failures: list[tuple[str, BaseException]] = []
        total = len(self.vpses) + len(self.networks)
        try:
            while self.vpses:
                vps = self.vpses.pop()
                try:
                    vps.remove()
                except Exception as e:  # noqa: BLE001 - named below, after the rest is removed
                    failures.append((f"VPS {vps.name}", e))
            while self.networks:
                network = self.networks.pop()
                try:
                    with contextlib.suppress(docker.errors.NotFound):
                        network.remove()
                except Exception as e:  # noqa: BLE001 - named below, after the rest is removed
                    failures.append((f"network {network.name}", e))
            (self.identity.directory / self._config_name).unlink(missing_ok=True)
        finally:
            self._closed()
        _raise_failures(failures, total)
