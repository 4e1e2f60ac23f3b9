"""Training throughput: autosparse's trainer vs a naive reference loop, in the same process.

The reference is the usual torchvision recipe: a Dataset returning PIL images, per-sample
transforms (RandomCrop(pad 4) + flip + ToTensor + Normalize), a DataLoader, fp32 eager training.
Both train the same architecture with the same optimizer and batch size; figures are img/s over
whole epochs after one warm-up epoch (compilation and caches excluded).

    python benchmarks/bench_train.py --case lenet_mnist          # CPU goal >= 5x
    python benchmarks/bench_train.py --case resnet18_cifar --width 0.25   # CPU goal >= 1.2x
    python benchmarks/bench_train.py --case resnet18_cifar --device cuda --width 1 --compile
    python benchmarks/bench_train.py --case resnet18_cifar --device cuda --width 1 --compile \
        --cuda-graph --skip-naive    # the whole step as one CUDA graph vs forward+loss compiled
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

import autosparse
from autosparse.train import TrainConfig, make_optimizer

CASES = {
    "lenet_mnist": ("lenet_300_100", "mnist"),
    "resnet18_cifar": ("resnet18", "cifar10"),
}


class NaiveDataset(Dataset):
    """torchvision-style: one PIL image per item, per-sample transforms."""

    def __init__(self, ds, augment: bool):
        import torchvision.transforms as T

        self.x = ds.images.permute(0, 2, 3, 1).numpy()  # HWC uint8, as torchvision holds it
        self.y = ds.labels.numpy()
        self.gray = self.x.shape[-1] == 1
        t = [T.RandomCrop(self.x.shape[1], padding=4), T.RandomHorizontalFlip()] if augment else []
        self.tf = T.Compose(t + [T.ToTensor(), T.Normalize(ds.spec.mean, ds.spec.std)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        img = Image.fromarray(self.x[i][..., 0] if self.gray else self.x[i])
        return self.tf(img), int(self.y[i])


def naive_epochs(model, ds, augment, cfg, device, epochs, workers) -> float:
    loader = DataLoader(NaiveDataset(ds, augment), batch_size=cfg.batch_size, shuffle=True,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=workers > 0)
    model.to(device).train()
    opt = make_optimizer(model.parameters(), cfg)
    times = []
    for _ in range(epochs + 1):  # first epoch = warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return len(ds) * epochs / sum(times[1:])


def ours_epochs(model, ds, cfg: TrainConfig, epochs: int) -> float:
    cfg.epochs = epochs + 1
    res = autosparse.train(model, ds, None, cfg)
    t = sum(h["epoch_time"] for h in res.history[1:])
    return len(ds) * epochs / t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), default="lenet_mnist")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--n", type=int, default=None, help="training images used (default: all)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=None,
                    help="reference DataLoader workers (default 0 on CPU, 8 on CUDA)")
    ap.add_argument("--compile", action="store_true", help="torch.compile our model (CUDA)")
    ap.add_argument("--compile-mode", default="reduce-overhead")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="also time the whole training step captured as one CUDA graph "
                         "(cuda_graph=True, no torch.compile) against the run above")
    args = ap.parse_args()

    model_name, dataset = CASES[args.case]
    ds = autosparse.load_dataset(dataset, "train")
    if args.n:
        ds = ds.subset(torch.arange(args.n))
    device = torch.device(args.device)
    workers = args.workers if args.workers is not None else (8 if device.type == "cuda" else 0)
    cfg = autosparse.preset(model_name, dataset, batch_size=args.batch_size, device=args.device,
                            compile=args.compile, compile_mode=args.compile_mode,
                            progress=False, seed=0)

    def fresh():
        return autosparse.build_model(model_name, ds.num_classes, args.width,
                                      ds.spec.input_shape, seed=0)

    print(f"# {platform.node()} {platform.processor() or platform.machine()} "
          f"threads={torch.get_num_threads()} torch={torch.__version__} "
          f"device={torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}")
    print(f"# case={args.case} width={args.width} n={len(ds)} batch={args.batch_size} "
          f"epochs={args.epochs}+1 warm-up, compile={args.compile} "
          f"({args.compile_mode}), workers={workers}")
    ours = ours_epochs(fresh(), ds, cfg, args.epochs)
    print(f"autosparse trainer: {ours:12,.0f} img/s")
    if args.cuda_graph:
        cfg_graph = autosparse.preset(model_name, dataset, batch_size=args.batch_size,
                                      device=args.device, cuda_graph=True, progress=False, seed=0)
        graph = ours_epochs(fresh(), ds, cfg_graph, args.epochs)
        print(f"captured whole step: {graph:11,.0f} img/s")
        print(f"ratio to the above : {graph / ours:12.2f}x")
    if not args.skip_naive:
        naive = naive_epochs(fresh(), ds, ds.spec.augment, cfg, device, args.epochs, workers)
        print(f"naive reference   : {naive:12,.0f} img/s")
        print(f"ratio             : {ours / naive:12.2f}x")


if __name__ == "__main__":
    os.environ.setdefault("AUTOSPARSE_DATA", os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "shared", "data"))
    np.random.seed(0)
    main()
