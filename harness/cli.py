"""The ``vps-harness`` command, on the same library the pytest plugin uses."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from docker.models.containers import Container

from harness import archive, labels
from harness.catalogue import Catalogue
from harness.config import HarnessConfig
from harness.engine import docker_client
from harness.errors import HarnessError
from harness.fleet import Fleet
from harness.identity import Identity
from harness.images import Images
from harness.reaper import KEPT_PREFIX, owner_alive, sweep
from harness.spec import SUPPORTED, parse_spec, parse_specs
from harness.standalone import Standalone, worlds
from harness.want import INITS, VpsWant


def _images_build(args: argparse.Namespace) -> int:
    specs = parse_specs(args.specs)  # a bad value stops here, before the engine is asked
    desk = _standalone()
    images = Images(desk.client)
    for spec in specs:
        for docker in ("none", "dind") if args.dind else ("none",):
            started = time.monotonic()
            if args.rebuild and docker == "none":
                image = images.vps(spec, rebuild=True)
            else:
                image = desk.image(images, spec, docker)
            how = "built" if image.built else "cached"
            print(f"{spec}\t{image.tag}\t{how} in {time.monotonic() - started:.2f} s")
    return 0


def _images_ls(args: argparse.Namespace) -> int:
    rows = [
        row
        for row in Catalogue(Images(docker_client())).ls()
        if (row.current or not args.current) and (not args.kind or row.kind in args.kind)
    ]
    if args.quiet:
        print("\n".join(row.tag for row in rows))
        return 0
    print(f"{'SPEC':<14} {'KIND':<5} {'TAG':<52} {'SIZE':>8} {'AGE':>7}  CURRENT")
    for row in rows:
        print(
            f"{row.spec:<14} {row.kind:<5} {row.tag:<52} {row.size / 1e6:>6.0f}MB "
            f"{_age(time.time() - row.created):>7}  {'yes' if row.current else 'no'}"
        )
    return 0


def _images_key(args: argparse.Namespace) -> int:
    print(archive.key(parse_specs(args.specs)))
    return 0


def _images_save(args: argparse.Namespace) -> int:
    started = time.monotonic()
    directory = Path(args.directory)
    specs = parse_specs(args.specs) if args.specs else ()  # a bad value stops here, before the engine is asked
    tags = archive.save(Images(docker_client()), directory, specs, args.kind or archive.KINDS)
    print(f"saved {len(tags)} image(s) to {directory / archive.ARCHIVE} in {time.monotonic() - started:.1f} s")
    return 0


def _images_load(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tags = archive.load(docker_client(), Path(args.directory))
    print(f"loaded {len(tags)} image(s) in {time.monotonic() - started:.1f} s: {', '.join(tags)}")
    return 0


def _images_prune(args: argparse.Namespace) -> int:
    removed = Catalogue(Images(docker_client())).prune()
    for row in removed:
        print(f"removed {row.tag} ({row.image_id})")
    print(f"{len(removed)} image(s) removed")
    return 0


def _standalone() -> Standalone:
    return Standalone(docker_client(), HarnessConfig.from_env().cli_dir)


def _up(args: argparse.Namespace) -> int:
    spec = parse_spec(args.spec)
    desk = _standalone()
    started = time.monotonic()
    images = Images(desk.client)
    image = desk.image(images, spec, args.docker)
    image_seconds = time.monotonic() - started
    vps = desk.up(images, image, VpsWant(spec, name=args.name or "", init=args.init, docker=args.docker))
    ready_seconds = time.monotonic() - started - image_seconds
    vps.close()
    what = f"{spec}, init={vps.init}" + (f", docker={vps.docker}" if vps.docker != "none" else "")
    print(f"VPS {vps.name} ({what}) is up: image {image_seconds:.2f} s, ready {ready_seconds:.2f} s")
    print(f"  ssh:   {vps.ssh_command()}")
    print(f"  or:    vps-harness ssh {vps.name} [COMMAND]")
    print(f"  stop:  vps-harness down {vps.name}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    client = docker_client()
    containers = client.containers.list(all=True, filters={"label": labels.NAME}, ignore_removed=True)
    print(f"{'NAME':<12} {'SPEC':<13} {'INIT':<8} {'DOCKER':<7} {'SSH':<16} {'STATUS':<8} {'OWNER':<22} CONTAINER")
    for c in sorted(containers, key=lambda c: c.name):
        print(
            f"{c.labels.get(labels.NAME, '?'):<12} {c.labels.get(labels.SPEC, '?'):<13} "
            f"{c.labels.get(labels.INIT, '?'):<8} {c.labels.get(labels.DOCKER, 'none'):<7} "
            f"{_published(c):<16} {c.status:<8} {_owner(c):<22} {c.name}"
        )
    return 0


def _published(container: Container) -> str:
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("22/tcp") or []
    return f"{bindings[0]['HostIp']}:{bindings[0]['HostPort']}" if bindings else "-"


def _owner(container: Container) -> str:
    if labels.PID not in container.labels:
        return "vps-harness up"
    alive = "running" if owner_alive(container.labels) else "gone"
    kept = "kept, " if container.name.startswith(KEPT_PREFIX) else ""
    return f"{kept}pid {container.labels[labels.PID]} {alive}"


def _ssh(args: argparse.Namespace) -> int:
    desk = _standalone()
    vps = desk.get(args.name)
    if args.command:
        result = vps.run(" ".join(args.command), check=False)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        vps.close()
        return result.exit_status
    line = shlex.split(vps.ssh_command())  # pinned where it is now: a restart may change its port
    if shutil.which(line[0]) is None:
        raise HarnessError("no `ssh` client on PATH for an interactive login; give a COMMAND to run one over paramiko")
    os.execvp(line[0], line)


def _down(args: argparse.Namespace) -> int:
    if bool(args.name) == args.all:
        raise HarnessError("name one VPS made by `vps-harness up`, or give --all")
    desk = _standalone()
    removed = desk.down(None if args.all else args.name)
    print(f"removed {len(removed)} VPS{'es' if len(removed) != 1 else ''}{': ' if removed else ''}{', '.join(removed)}")
    return 0


def _world_up(args: argparse.Namespace) -> int:
    offered = worlds()
    if args.name not in offered:
        known = ", ".join(sorted(offered)) or "none (install vps-harness with its flows)"
        raise HarnessError(f"no world named {args.name!r}; the worlds are: {known}")
    spec = parse_spec(args.os)
    if args.variant == "socket":
        raise HarnessError(
            f"world {args.name} --variant socket mounts a Docker socket the harness serves while its process "
            "lives, and `vps-harness world up` exits: use --variant dind here, or the flow's fixture in a test"
        )
    desk = _standalone()
    started = time.monotonic()
    world = desk.world_up(Images(desk.client), args.name, offered[args.name], spec, args.variant)
    print(world.describe())
    world.close()
    print(f"up in {time.monotonic() - started:.1f} s; `vps-harness world down {args.name}` removes it")
    return 0


def _world_down(args: argparse.Namespace) -> int:
    removed = _standalone().world_down(args.name)
    print(f"removed world {args.name}: {', '.join(removed)}")
    return 0


def _gc(args: argparse.Namespace) -> int:
    """Sweep the engine ``DOCKER_HOST`` names, and each of ``VPS_HARNESS_ENGINES``; one that does not answer
    is named, and the others are swept all the same (the exit status is then 1)."""
    failed = 0
    for url in ("", *HarnessConfig.from_env().engines):
        try:
            if url:
                client = docker_client(url=url)
                try:
                    swept = sweep(client, everything=args.all, spare_kept=False)
                finally:
                    client.close()
            else:
                desk = _standalone()
                swept = sweep(desk.client, everything=args.all, spare_kept=False)
                desk.forget_removed()
        except HarnessError as e:
            print(f"vps-harness: {e}", file=sys.stderr)
            failed += 1
            continue
        print(
            (f"{url}: " if url else "")
            + f"removed {len(swept.containers)} container(s), {len(swept.networks)} network(s), "
            f"{len(swept.volumes)} volume(s), {len(swept.images)} image(s)"
            f"{' (every labelled one)' if args.all else ' whose owner process is gone'}"
        )
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    spec = parse_spec(args.spec)
    client = docker_client()
    watch = time.monotonic()
    images = Images(client)
    image = images.vps(spec)
    print(f"{'image':<10} {image.tag} ({'built' if image.built else 'cached'}) in {time.monotonic() - watch:.2f} s")
    identity = Identity.fresh()
    fleet = Fleet(client, images, session=labels.new_session_id(), identity=identity)
    try:
        watch = time.monotonic()
        vps = fleet.vps(spec, name="demo", init=args.init)
        print(f"{'ready':<10} {time.monotonic() - watch:.2f} s: container started, sshd answered, boot finished")
        facts = {
            "os": ". /etc/os-release; echo $PRETTY_NAME",
            "pid 1": "cat /proc/1/comm",
            "systemd": "[ \"$(cat /proc/1/comm)\" = systemd ] && systemctl is-system-running || echo 'not PID 1'",
            "users": "getent passwd | awk -F: '$3 == 0 || ($3 >= 1000 && $3 < 65534) {print $1}' | paste -sd ' '",
            "sudo": "sudo -n true && echo 'vps may sudo without a password'",
            "sshd": "ss -tln | awk '$4 ~ /:22$/ {print \"listening on\", $4; exit}'",
        }
        for label, command in facts.items():
            print(f"{label:<10} {vps.run(command).stdout.strip()}")
        runs = sorted(vps.run("true").duration for _ in range(20))
        print(f"{'run':<10} {runs[10] * 1000:.1f} ms per command (median of 20, one SSH connection)")
        print(f"{'ssh':<10} {vps.ssh_command()}")
    finally:
        watch = time.monotonic()
        fleet.close()
        identity.remove()
        print(f"{'removed':<10} in {time.monotonic() - watch:.2f} s")
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vps-harness", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    images = commands.add_parser("images", help="base and VPS images").add_subparsers(dest="images", required=True)
    build = images.add_parser("build", help="make the VPS image of each SPEC (a cache hit builds nothing)")
    build.add_argument("specs", nargs="+", metavar="SPEC", help=f"one of {', '.join(str(s) for s in SUPPORTED)}")
    build.add_argument("--dind", action="store_true", help="also the Docker-in-Docker image (its engine seeded)")
    build.add_argument(
        "--rebuild",
        action="store_true",
        help="run the VPS image's build even when its tag exists (the engine's layer cache still applies)",
    )
    build.set_defaults(run=_images_build)
    images_ls = images.add_parser("ls", help="this project's images: spec, tag, size, age")
    images_ls.add_argument("--current", action="store_true", help="only those the current recipes use")
    images_ls.add_argument(
        "--kind", action="append", metavar="KIND", help="only this kind (base, vps, dind, inner, snapshot); repeatable"
    )
    images_ls.add_argument("-q", "--quiet", action="store_true", help="print their tags only, one a line")
    images_ls.set_defaults(run=_images_ls)
    images_key = images.add_parser(
        "key", help="a cache key for the images of SPECs: it changes whenever they would be made differently"
    )
    images_key.add_argument("specs", nargs="+", metavar="SPEC")
    images_key.set_defaults(run=_images_key)
    images_save = images.add_parser(
        "save",
        help="the current images but snapshots (of each SPEC; default all), into one archive in DIRECTORY (a CI cache)",
    )
    images_save.add_argument("directory", metavar="DIRECTORY")
    images_save.add_argument("specs", nargs="*", metavar="SPEC", help="only the images of these OSes (default: all)")
    images_save.add_argument(
        "--kind",
        action="append",
        choices=archive.KINDS,
        metavar="KIND",
        help=f"only this kind ({', '.join(archive.KINDS)}); repeatable",
    )
    images_save.set_defaults(run=_images_save)
    images_load = images.add_parser("load", help="load the archive `images save` wrote in DIRECTORY: same tags")
    images_load.add_argument("directory", metavar="DIRECTORY")
    images_load.set_defaults(run=_images_load)
    images.add_parser("prune", help="remove this project's images the current recipes do not use").set_defaults(
        run=_images_prune
    )
    up = commands.add_parser("up", help="start a VPS outside pytest and print how to reach it")
    up.add_argument("spec", metavar="SPEC", help=f"one of {', '.join(str(s) for s in SUPPORTED)}")
    up.add_argument("--name", help="its name and host name (default: the first free vpsN)")
    up.add_argument("--init", choices=list(INITS), default="systemd", help="PID 1 (default: %(default)s)")
    up.add_argument(
        "--docker",
        choices=["none", "dind", "bare"],
        default="none",
        help="dind: its own Docker engine, its base image loaded; bare: no Docker installed, room for the "
        "engine its provisioning installs (default: %(default)s; socket mode needs a live process: "
        "pytest's vps_factory)",
    )
    up.set_defaults(run=_up)
    world = commands.add_parser("world", help="provisioned worlds of several VPSes (the flows)").add_subparsers(
        dest="world", required=True
    )
    world_up = world.add_parser("up", help="start and provision world NAME, and print how to reach each host")
    world_up.add_argument("name", metavar="NAME", help="e.g. jenkins-slave0")
    world_up.add_argument("--os", default="debian:12", help=f"one of {', '.join(str(s) for s in SUPPORTED)}")
    world_up.add_argument(
        "--variant",
        help="the setup, where a flow has several: hardened or as_written (jenkins-slave0; default hardened), "
        "dind or socket (deploy-daemon; default dind)",
    )
    world_up.set_defaults(run=_world_up)
    world_down = world.add_parser("down", help="remove world NAME")
    world_down.add_argument("name", metavar="NAME")
    world_down.set_defaults(run=_world_down)
    commands.add_parser("ls", help="every VPS container of vps-harness, with its owner").set_defaults(run=_ls)
    ssh = commands.add_parser("ssh", help="log in to a VPS made by `up`, or run COMMAND on it")
    ssh.add_argument("name", metavar="NAME")
    ssh.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    ssh.set_defaults(run=_ssh)
    down = commands.add_parser("down", help="remove a VPS made by `up` (or all of them)")
    down.add_argument("name", nargs="?", metavar="NAME")
    down.add_argument("--all", action="store_true", help="every VPS made by `up`")
    down.set_defaults(run=_down)
    demo = commands.add_parser("demo", help="start a VPS, show what it is over SSH, and remove it")
    demo.add_argument("spec", metavar="SPEC", nargs="?", default="ubuntu:16.04", help="default: %(default)s")
    demo.add_argument("--init", choices=list(INITS), default="systemd", help="PID 1 (default: %(default)s)")
    demo.set_defaults(run=_demo)
    gc = commands.add_parser(
        "gc",
        help="remove what killed runs and kept failures left behind (on each engine of VPS_HARNESS_ENGINES, if set)",
    )
    gc.add_argument("--all", action="store_true", help="every labelled container, network and volume, `up`'s too")
    gc.set_defaults(run=_gc)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    # SPECs after an option (`images save DIR --kind base debian:12`): argparse
    # leaves a `nargs="*"` positional behind once an option came between, and
    # its parse_intermixed_args takes no subcommands.
    args, extra = top.parse_known_args(argv)
    if extra:
        if not isinstance(getattr(args, "specs", None), list) or any(word.startswith("-") for word in extra):
            top.error(f"unrecognized arguments: {' '.join(extra)}")
        args.specs.extend(extra)
    try:
        return int(args.run(args))
    except HarnessError as e:
        print(f"vps-harness: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
