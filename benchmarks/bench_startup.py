"""Per-job start-up: wall and CPU time from process start to where each DAG job's real work begins.

    python benchmarks/bench_startup.py                         # this tree
    python benchmarks/bench_startup.py --ref /path/to/old/tree # this tree vs another, same process

For each job kind of the DAG (``python -m autosparse <command>``), two processes are timed:

- ``help``: ``python -m autosparse <command> --help`` (the CLI and the stage module it imports);
- ``path``: what the job runs before it reads its inputs: the same parser, then the imports and
  set-up of its code path; for the training jobs (irp, train, scorer-train) building a small model,
  its optimizer (:func:`autosparse.train.make_optimizer`) and one optimizer step (torch.optim's
  ``Optimizer`` class would import ``torch._dynamo`` on construction and on ``step``). This
  process runs under ``-X importtime``: ``imports ms`` is the sum of its modules' own import times,
  ``dynamo`` whether ``torch._dynamo`` was among them.

Each process runs ``--runs`` times per tree, the trees alternating, at ``nice 19``, with
``PYTHONPATH`` and the working directory set to the tree; figures are medians, CPU = user + system
of the child. ``ratio`` = this tree / the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

_STEP = """
import torch
from autosparse.models import build_model
from autosparse.train import make_optimizer
from autosparse.train_config import TrainConfig
model = {model}
opt = make_optimizer(model.parameters(), TrainConfig({cfg}))
x = torch.zeros(2, *{shape})
opt.zero_grad(set_to_none=True)
model(x).float().square().mean().backward()
opt.step()
"""

_NET = "build_model({!r}, 10, 0.25, {!r}, seed=0)"
# The optimizer of each training job: the IRP of the LeNet preset (Adam), the retraining of a
# ResNet-20 (momentum SGD), the scorer (Adam, lr 0.01: what autosparse.scorer builds).
_IRP = _STEP.format(model=_NET.format("lenet_300_100", (1, 28, 28)), shape=(1, 28, 28),
                    cfg="optimizer='adam', lr=1.2e-3, weight_decay=5e-4")
_TRAIN = _STEP.format(model=_NET.format("resnet20", (3, 32, 32)), shape=(3, 32, 32),
                      cfg="optimizer='momentum', lr=0.1, weight_decay=1e-4")
_SCORER = "import pyarrow.dataset\n" + _STEP.format(
    model="torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))",
    shape=(8,), cfg="optimizer='adam', lr=0.01")
_PRUNE = "import torch\nfrom autosparse.models import build_model\n" + _NET.format(
    "resnet20", (3, 32, 32))

# job kind -> (CLI command, the set-up its code path runs before its real work)
JOBS: dict[str, tuple[str, str]] = {
    "irp": ("irp", _IRP),
    "survival": ("survival", "import pandas"),
    "scorer-train": ("scorer-train", _SCORER),
    "score": ("score", _PRUNE),
    "prune": ("prune", _PRUNE),
    "train": ("train", _TRAIN),
    "table": ("table", "import pandas"),
    "figure": ("figure", "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot\n"
                         "import seaborn\nimport autosparse.figures.accuracy"),
    "claims": ("claims", "import pandas\nimport autosparse.tables"),
}
FLOOR = "import torch"  # the floor of every torch job, shown as the row (import torch)


def path_code(command: str, setup: str) -> str:
    return f"from autosparse.cli import build_parser\nbuild_parser({command!r})\n{setup}\n"


def run(argv: list[str], tree: Path) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one child process run in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1",
           "AUTOSPARSE_THREADS": "1", "MPLBACKEND": "Agg"}
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    if p.returncode:
        raise RuntimeError(f"{' '.join(argv)} in {tree} failed ({p.returncode}):\n{text[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, text


def import_stats(stderr: str) -> tuple[float, int, bool]:
    """(sum of the modules' own import times in ms, module count, torch._dynamo imported)."""
    total, n, dynamo = 0, 0, False
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            self_us, _, name = (c.strip() for c in line[len("import time:"):].split("|"))
            if self_us.isdigit():
                total, n = total + int(self_us), n + 1
                dynamo = dynamo or name == "torch._dynamo"
    return total / 1e3, n, dynamo


def measure(trees: dict[str, Path], jobs: list[str], runs: int) -> dict:
    """{(job, kind, tree label): list of (wall, cpu, imports ms, modules, dynamo)}."""
    out: dict = {}
    py = sys.executable
    for job in jobs:
        if job == "(import torch)":
            procs = {"path": [py, "-X", "importtime", "-c", FLOOR]}
        else:
            cmd, setup = JOBS[job]
            procs = {"help": [py, "-m", "autosparse", cmd, "--help"],
                     "path": [py, "-X", "importtime", "-c", path_code(cmd, setup)]}
        for kind, argv in procs.items():
            for _ in range(runs):
                for label, tree in trees.items():  # alternate the trees: same load for both
                    wall, cpu, err = run(argv, tree)
                    out.setdefault((job, kind, label), []).append((wall, cpu, *import_stats(err)))
        print(f"# measured {job}", file=sys.stderr, flush=True)
    return out


def report(res: dict, trees: dict[str, Path], jobs: list[str]) -> None:
    labels = list(trees)
    med = {k: [statistics.median(c) for c in list(zip(*v))[:4]] + [any(r[4] for r in v)]
           for k, v in res.items()}
    head = f"{'job':15s} {'process':7s}"
    for label in labels:
        head += f" | {label + ' wall':>10s} {'CPU':>6s} {'imports':>8s} {'mods':>5s} dyn"
    if len(labels) == 2:
        head += " | ratio wall   CPU imports"
    print(head)
    for job in jobs:
        for kind in ("help", "path"):
            if (job, kind, labels[0]) not in med:
                continue
            row = f"{job:15s} {kind:7s}"
            for label in labels:
                w, c, ms, n, dyn = med[(job, kind, label)]
                imp = f"{ms:8.0f} {n:5.0f} {'yes' if dyn else 'no ':3s}" if kind == "path" else \
                    f"{'':8s} {'':5s} {'':3s}"
                row += f" | {w:10.2f} {c:6.2f} {imp}"
            if len(labels) == 2:
                (w1, c1, m1, *_), (w0, c0, m0, *_) = (med[(job, kind, lb)] for lb in labels)
                row += f" | {w1 / w0:10.2f} {c1 / c0:5.2f}"
                row += f" {m1 / m0:7.2f}" if kind == "path" else ""
            print(row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, help="a reference tree (e.g. a git worktree of an older "
                                             "commit), measured alongside this one")
    ap.add_argument("--runs", type=int, default=5, help="runs per process and tree (median)")
    ap.add_argument("--jobs", nargs="+", choices=[*JOBS, "(import torch)"],
                    default=["(import torch)", *JOBS])
    ap.add_argument("--no-nice", action="store_true", help="run at the current priority")
    a = ap.parse_args()
    if not a.no_nice:
        os.nice(19 - os.nice(0))
    trees = {"this": HERE}
    if a.ref:
        trees["ref"] = a.ref.resolve()
    for label, tree in trees.items():
        _, _, err = run([sys.executable, "-c", "import sys, autosparse; "
                         "sys.stderr.write(autosparse.__file__)"], tree)
        if not err.startswith(str(tree)):
            raise SystemExit(f"{label}: autosparse imports from {err}, not from {tree}")
    print(f"# python {sys.version.split()[0]}, {os.cpu_count()} CPUs, nice {os.nice(0)}, "
          f"{a.runs} runs per process and tree (medians), load {os.getloadavg()[0]:.1f}; "
          + ", ".join(f"{k} = {v}" for k, v in trees.items()))
    report(measure(trees, a.jobs, a.runs), trees, a.jobs)


if __name__ == "__main__":
    main()
