"""Datasets: offline files or torchvision roots, decoded once, held as uint8 tensors.

Every dataset is a :class:`ImageTensorDataset`: uint8 NCHW images + int64 labels, normalised on
access. The trainer uses the tensors directly (whole batches, on the GPU when there is one); the
``Dataset`` interface is there for everything else.

Data root: the ``root`` argument, else ``$AUTOSPARSE_DATA``, else ``data_root`` in
``config/config.yaml``. Decoded JPEG copies are cached under ``$AUTOSPARSE_CACHE`` (default
``~/.cache/autosparse``).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .artifacts.atomic import replace_file
from .registry import Registry

REPO_ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool  # 4-pixel pad random crop + horizontal flip (CIFAR/TinyImageNet protocol)
    load: Callable[[Path, str, bool], tuple[np.ndarray, np.ndarray]]  # -> (N,H,W,C) uint8, labels


DATASETS: Registry[DatasetSpec] = Registry("dataset")


class DataNotFoundError(FileNotFoundError):
    pass


class ImageTensorDataset(Dataset):
    """uint8 images (N, C, H, W) and int64 labels; items are (normalised float CHW, int label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec, split: str):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        self.images, self.labels, self.spec, self.split = images, labels, spec, split
        std = torch.tensor(spec.std).view(1, -1, 1, 1)
        # x_norm = (x / 255 - mean) / std = x * scale + shift, with constants cached per device
        # (a CPU->GPU copy of them at every step would synchronise the stream).
        self._affine = {"cpu": (1.0 / (255.0 * std), -torch.tensor(spec.mean).view(1, -1, 1, 1) / std)}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.normalize(self.images[i : i + 1])[0], int(self.labels[i])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> normalised float batch on x's device."""
        key = str(x.device)
        if key not in self._affine:
            self._affine[key] = tuple(t.to(x.device) for t in self._affine["cpu"])
        scale, shift = self._affine[key]
        return torch.addcmul(shift, x.float(), scale)

    def subset(self, index: torch.Tensor | np.ndarray) -> ImageTensorDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageTensorDataset(self.images[index], self.labels[index], self.spec, self.split)

    def batches(self, batch_size: int, device: str | torch.device = "cpu"):
        """Normalised (inputs, labels) batches in order: for scoring and evaluation."""
        for i in range(0, len(self), batch_size):
            x = self.images[i : i + batch_size].to(device, non_blocking=True)
            yield self.normalize(x), self.labels[i : i + batch_size].to(device)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes


def class_balanced_indices(labels: torch.Tensor, n_per_class: int, seed: int) -> torch.Tensor:
    """Seeded choice of ``n_per_class`` indices of every class, in class-interleaved order."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.as_tensor(labels)
    picks = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < n_per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than n_per_class={n_per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:n_per_class]])
    return torch.stack(picks, 1).flatten()  # row-major: one of each class, then the next


def class_balanced_subset(ds: ImageTensorDataset, n_per_class: int, seed: int = 0):
    return ds.subset(class_balanced_indices(ds.labels, n_per_class, seed))


def resolve_root(root: str | os.PathLike | None = None) -> list[Path]:
    """Candidate data roots, most specific first."""
    if root is not None:
        return [Path(root).expanduser()]
    cands = []
    if os.environ.get("AUTOSPARSE_DATA"):
        cands.append(Path(os.environ["AUTOSPARSE_DATA"]).expanduser())
    cfg = REPO_ROOT / "config" / "config.yaml"
    if cfg.exists():
        import yaml

        with open(cfg) as f:
            value = (yaml.safe_load(f) or {}).get("data_root")
        if value:
            p = Path(os.path.expandvars(str(value))).expanduser()
            cands.append(p if p.is_absolute() else (REPO_ROOT / p).resolve())
    return cands


def cache_dir() -> Path:
    return Path(os.environ.get("AUTOSPARSE_CACHE", Path.home() / ".cache" / "autosparse"))


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    with replace_file(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)


def decode_jpeg_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode a JPEG-bytes npz (``data``, ``offsets``, ``y``) to (N,H,W,3) uint8, cached."""
    stat = path.stat()
    key = f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}"
    cx, cy = cache_dir() / f"{key}.x.npy", cache_dir() / f"{key}.y.npy"
    if cx.exists() and cy.exists():  # mapped: a subset reads only its own rows
        return np.load(cx, mmap_mode="r"), np.load(cy)
    from PIL import Image

    with np.load(path) as z:
        data, offsets, y = z["data"], z["offsets"], z["y"].astype(np.int64)

    def one(i: int) -> np.ndarray:
        raw = data[offsets[i] : offsets[i + 1]].tobytes()
        return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        x = np.stack(list(ex.map(one, range(len(y)), chunksize=512)))
    _atomic_save_npy(cx, x)
    _atomic_save_npy(cy, y)
    return x, y


def _first_existing(roots: list[Path], names: list[str]) -> Path | None:
    for r in roots:
        for n in names:
            if (r / n).exists():
                return r / n
    return None


def _load_mnist(root: Path, split: str, download: bool):
    npz = root / "mnist.npz"
    if npz.exists():
        with np.load(npz) as z:
            return z[f"x_{split}"], z[f"y_{split}"].astype(np.int64)
    return _torchvision("MNIST", root, split, download)


def _load_cifar10(root: Path, split: str, download: bool):
    npz = root / f"cifar10_jpegbytes_{split}.npz"
    if npz.exists():
        return decode_jpeg_npz(npz)
    return _torchvision("CIFAR10", root, split, download)


def _load_cifar100(root: Path, split: str, download: bool):
    return _torchvision("CIFAR100", root, split, download)


def _load_tinyimagenet(root: Path, split: str, download: bool):
    name = "tinyimagenet_jpegbytes_train100.npz" if split == "train" else "tinyimagenet_jpegbytes_val.npz"
    npz = root / name
    if npz.exists():
        return decode_jpeg_npz(npz)
    raise DataNotFoundError(str(npz))


def _torchvision(cls_name: str, root: Path, split: str, download: bool):
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(str(root), train=(split == "train"), download=download)
    except RuntimeError as e:  # torchvision raises RuntimeError for missing files
        raise DataNotFoundError(f"{root} (torchvision {cls_name}): {e}") from None
    x = np.asarray(ds.data)
    if x.ndim == 3:
        x = x[..., None]
    return x, np.asarray(ds.targets, dtype=np.int64)


DATASETS.register("mnist")(
    DatasetSpec("mnist", 10, (1, 28, 28), (0.1307,), (0.3081,), False, _load_mnist)
)
DATASETS.register("cifar10")(
    DatasetSpec("cifar10", 10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                True, _load_cifar10)
)
DATASETS.register("cifar100")(
    DatasetSpec("cifar100", 100, (3, 32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                True, _load_cifar100)
)
DATASETS.register("tinyimagenet")(
    DatasetSpec("tinyimagenet", 200, (3, 64, 64), (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821),
                True, _load_tinyimagenet)
)


def _first_classes(load: Callable[[Path, str, bool], tuple[np.ndarray, np.ndarray]], k: int):
    """A loader keeping the examples of classes ``0..k-1`` of ``load``'s dataset."""
    def load_k(root: Path, split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y = load(root, split, download)
        keep = y < k
        return x[keep], y[keep]
    return load_k


# The first 10 classes (sorted WordNet ids) of TinyImageNet, at 64x64: a 10-class subset in the
# spirit of Imagenette. The quick profile's stand-in for TinyImageNet, whose 200 classes do not
# learn above chance in a CPU-sized budget (4 epochs of 20 images per class: 0.47 %).
DATASETS.register("tinyimagenet10")(
    DatasetSpec("tinyimagenet10", 10, (3, 64, 64), (0.4802, 0.4481, 0.3975),
                (0.2770, 0.2691, 0.2821), True, _first_classes(_load_tinyimagenet, 10))
)

_HOW_TO = (
    "Point AUTOSPARSE_DATA (or `data_root` in config/config.yaml, or the root= argument) at a folder "
    "holding the offline files (mnist.npz, cifar10_jpegbytes_{train,test}.npz, "
    "tinyimagenet_jpegbytes_{train100,val}.npz) or torchvision's dataset folders; "
    "pass download=True to let torchvision download where internet exists."
)


def dataset_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def load_dataset(
    name: str, split: str, root: str | os.PathLike | None = None, download: bool = False,
    n_per_class: int | None = None, seed: int = 0,
) -> ImageTensorDataset:
    """Load ``split`` ("train" or "test") of a registered dataset as an ImageTensorDataset.

    ``n_per_class``: only :func:`class_balanced_subset` ``(dataset, n_per_class, seed)``, chosen
    before the images are read (a quick job reads 2,000 CIFAR-10 images, not 50,000).
    """
    spec = DATASETS.get(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n_per_class is not None and n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class!r}")
    roots = resolve_root(root)
    tried: list[str] = []
    for r in roots:
        try:
            x, y = spec.load(r, split, download)
        except (DataNotFoundError, FileNotFoundError) as e:
            tried.append(str(e) if str(r) in str(e) else f"{r}: {e}")
            continue
        y = np.asarray(y)
        if n_per_class:
            idx = class_balanced_indices(torch.from_numpy(y), n_per_class, seed).numpy()
            x, y = x[idx], y[idx]
        images = torch.from_numpy(np.require(x, requirements=["C", "W"])).permute(0, 3, 1, 2)
        return ImageTensorDataset(images.contiguous(), torch.from_numpy(y), spec, split)
    tried_s = "\n  ".join(tried) if tried else "(no data root configured)"
    raise DataNotFoundError(f"dataset {name!r} ({split}) not found. Tried:\n  {tried_s}\n{_HOW_TO}")


def list_datasets() -> list[str]:
    return DATASETS.names()


def class_names(name: str, root: str | os.PathLike | None = None) -> list[str] | None:
    for r in resolve_root(root):
        p = r / f"{name}_classes.json"
        if p.exists():
            data = json.loads(p.read_text())
            return data.get("class_names", data) if isinstance(data, dict) else data
    return None


def augment_params(n: int, generator: torch.Generator, pad: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example crop offsets (2, n) in [0, 2*pad] and flip flags (n,), drawn on the CPU."""
    off = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return off, flip


def augment_batch(
    x: torch.Tensor, off: torch.Tensor, flip: torch.Tensor, pad: int = 4
) -> torch.Tensor:
    """Random crop after ``pad``-pixel zero padding and horizontal flip, for a whole batch.

    ``off`` (2, n) and ``flip`` (n,) come from :func:`augment_params` (on x's device); one gather
    does crop and flip for every example at once, on any device.
    """
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (off[0].view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    cols = (off[1].view(n, 1) + cols).view(n, 1, 1, w)
    bidx = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    cidx = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[bidx, cidx, rows, cols]
