"""The ``vps-harness`` command, on the same library the pytest plugin uses."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from harness.engine import docker_client
from harness.errors import HarnessError
from harness.images import Images
from harness.spec import SUPPORTED, parse_specs


def _images_build(args: argparse.Namespace) -> int:
    specs = parse_specs(args.specs)  # a bad value stops here, before the engine is asked
    images = Images(docker_client())
    for spec in specs:
        started = time.monotonic()
        image = images.vps(spec)
        how = "built" if image.built else "cached"
        print(f"{spec}\t{image.tag}\t{how} in {time.monotonic() - started:.2f} s")
    return 0


def _images_ls(args: argparse.Namespace) -> int:
    rows = Images(docker_client()).ls()
    print(f"{'SPEC':<14} {'KIND':<5} {'TAG':<52} {'SIZE':>8} {'AGE':>7}  CURRENT")
    for row in rows:
        print(
            f"{row.spec:<14} {row.kind:<5} {row.tag:<52} {row.size / 1e6:>6.0f}MB "
            f"{_age(time.time() - row.created):>7}  {'yes' if row.current else 'no'}"
        )
    return 0


def _images_prune(args: argparse.Namespace) -> int:
    removed = Images(docker_client()).prune()
    for row in removed:
        print(f"removed {row.tag} ({row.image_id})")
    print(f"{len(removed)} image(s) removed")
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
    build.set_defaults(run=_images_build)
    images.add_parser("ls", help="this project's images: spec, tag, size, age").set_defaults(run=_images_ls)
    images.add_parser("prune", help="remove this project's images the current recipes do not use").set_defaults(
        run=_images_prune
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except HarnessError as e:
        print(f"vps-harness: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
