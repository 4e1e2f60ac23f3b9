"""Command line: ``python -m autosparse <stage> ...`` (also the ``autosparse`` console script).

Each stage module exposes ``register_cli(subparsers)``, adding its subcommand(s) whose handler is
``args.func(args)``. The CLI parses, calls the library and writes artifacts; nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .params import str2bool  # noqa: F401  (stage CLIs import it from here)

# Stage modules contributing subcommands, in the order of the paper's pipeline, and the
# subcommands of each: a command imports only its own module (a table job never imports torch).
STAGE_COMMANDS = {
    "autosparse.irp": ("irp", "inspect", "export-mask"),
    "autosparse.survival": ("survival", "survival-merge", "table9", "fig1"),
    "autosparse.scorer": ("scorer-train",),
    "autosparse.pruning": ("score", "prune"),
    "autosparse.retrain": ("train",),
    "autosparse.tables": ("table",),
    "autosparse.claims": ("claims",),
    "autosparse.figures": ("figure",),
    "autosparse.plan": ("plan",),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser: every stage's subcommands, or only the stage module of ``command``."""
    # help is plain text: the docstring's RST literals (``...``) lose their backticks
    parser = argparse.ArgumentParser(prog="autosparse",
                                     description=__doc__.splitlines()[0].replace("`", ""))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="the pipeline stage to run (COMMAND --help: its options)")
    mods = [m for m, cmds in STAGE_COMMANDS.items() if command in cmds] or list(STAGE_COMMANDS)
    for mod in mods:
        importlib.import_module(mod).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A DAG job computes with the config's thread count (the Snakefile's AUTOSPARSE_THREADS),
    # not with the OMP_NUM_THREADS Snakemake derives from its scheduling claim; set before torch
    # loads (build_parser imports the stage module).
    if threads := os.environ.get("AUTOSPARSE_THREADS"):
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = threads
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"autosparse {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except Exception as e:  # a stop the job reports with its own status (train.OutOfTime: 75)
        if getattr(e, "exit_status", None) is None:
            raise
        print(f"autosparse {args.command}: {e}", file=sys.stderr)
        return int(e.exit_status)


if __name__ == "__main__":
    sys.exit(main())
