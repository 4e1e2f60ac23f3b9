"""Fixtures: tiny real models and real data slices from the offline files (../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get("AUTOSPARSE_DATA", DEFAULT_DATA))
    if not (root / "mnist.npz").exists():
        pytest.fail(f"offline data not found at {root}: set AUTOSPARSE_DATA")
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    import autosparse

    return autosparse.load_dataset("mnist", "train", data_root), autosparse.load_dataset(
        "mnist", "test", data_root
    )


@pytest.fixture(scope="session")
def cifar10(data_root):
    import autosparse

    return autosparse.load_dataset("cifar10", "train", data_root), autosparse.load_dataset(
        "cifar10", "test", data_root
    )


@pytest.fixture(scope="session")
def mnist_batch(mnist):
    """A class-balanced scoring batch: 10 examples per class of real MNIST."""
    import autosparse

    sub = autosparse.class_balanced_subset(mnist[0], 10, seed=0)
    return next(sub.batches(len(sub)))


@pytest.fixture(scope="session")
def cifar_batch(cifar10):
    import autosparse

    sub = autosparse.class_balanced_subset(cifar10[0], 2, seed=0)
    return next(sub.batches(len(sub)))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    """One thread for the whole session (set before any fixture): on a shared 2-core machine
    two threads are many times slower under load."""
    torch.set_num_threads(1)
    yield


def pytest_collection_modifyitems(config, items):
    """``-m gpu`` on a machine without CUDA skips those tests instead of failing them."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
