"""One local GPU per job: ``python -m autosparse.devices --gpus 0,1 -- CMD ...``.

Snakemake's local executor limits how many ``gpu=1`` jobs run at once (``--resources gpu=N``)
but does not say WHICH device a job gets (snakemake/snakemake#281). This wrapper picks the first
free device by taking an exclusive ``fcntl`` lock on ``<lock_dir>/gpu<i>.lock``, runs CMD with
``CUDA_VISIBLE_DEVICES=i`` and releases the lock when CMD ends (the kernel drops it if the wrapper
dies, so no lock is ever stale). With no ``--gpus``, or when ``CUDA_VISIBLE_DEVICES`` is already
set (SLURM sets it for ``--gpus=1`` jobs), CMD runs unchanged.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def acquire_device(gpus: list[str], lock_dir: str | os.PathLike, poll: float = 0.5):
    """Yield the id of a device in ``gpus`` held exclusively by this process until exit."""
    if not gpus:
        raise ValueError("acquire_device needs at least one device id")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for gpu in gpus:
            fh = open(lock_dir / f"gpu{gpu}.lock", "a+")  # noqa: SIM115 (held until release)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                yield gpu
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
            return
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autosparse.devices", description=__doc__.splitlines()[0])
    p.add_argument("--gpus", default="", help="comma-separated local device ids; empty = no GPU")
    p.add_argument("--lock-dir", default=".snakemake/gpu-locks")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command to run")
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command given after --")
    gpus = [g for g in a.gpus.split(",") if g.strip()]
    if not gpus or os.environ.get("CUDA_VISIBLE_DEVICES"):
        return subprocess.call(cmd)
    with acquire_device(gpus, a.lock_dir) as gpu:
        return subprocess.call(cmd, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu})


if __name__ == "__main__":
    sys.exit(main())
