"""Command line: ``python -m autosparse <stage> ...`` (also the ``autosparse`` console script).

Each stage module exposes ``register_cli(subparsers)``, adding its subcommand(s) whose handler is
``args.func(args)``. The CLI parses, calls the library and writes artifacts; nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Stage modules contributing subcommands, in the order of the paper's pipeline.
STAGE_MODULES = [
    "autosparse.irp", "autosparse.survival", "autosparse.scorer", "autosparse.pruning",
    "autosparse.retrain", "autosparse.tables", "autosparse.figures",
]


def str2bool(value: str) -> bool:
    """Parse a boolean flag strictly ("False" is False, unlike ``type=bool``)."""
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autosparse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in STAGE_MODULES:
        importlib.import_module(mod).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"autosparse {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
