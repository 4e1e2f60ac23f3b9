"""Data layer: real offline files, normalisation, balanced subsets, errors, augmentation."""

import pytest
import torch

import autosparse
from autosparse.data import augment_batch, augment_params


def test_mnist_is_the_real_dataset(mnist):
    train, test = mnist
    assert len(train) == 60_000 and len(test) == 10_000
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    assert abs(train.images.float().mean().item() / 255 - 0.1307) < 1e-3
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and isinstance(y, int)
    assert abs(train.normalize(train.images[:2000]).mean().item()) < 0.05


def test_cifar10_jpeg_copy_decodes_to_the_documented_means(cifar10):
    train, test = cifar10
    assert len(train) == 50_000 and len(test) == 10_000
    means = train.images.float().mean((0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4913, 0.4821, 0.4465]), atol=2e-4)
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_class_balanced_subset_is_balanced_and_seeded(mnist):
    a = autosparse.class_balanced_subset(mnist[0], 7, seed=1)
    b = autosparse.class_balanced_subset(mnist[0], 7, seed=1)
    c = autosparse.class_balanced_subset(mnist[0], 7, seed=2)
    assert torch.bincount(a.labels).tolist() == [7] * 10
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_missing_data_names_dataset_paths_and_remedy(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        autosparse.load_dataset("cifar10", "train", root=tmp_path)
    msg = str(e.value)
    assert "cifar10" in msg and str(tmp_path) in msg and "AUTOSPARSE_DATA" in msg


def test_unknown_names_are_listed():
    with pytest.raises(KeyError, match="valid: cifar10, cifar100, mnist, tinyimagenet, tinyimagenet10"):
        autosparse.load_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="split"):
        autosparse.load_dataset("mnist", "val")


def test_batched_augmentation_equals_per_example_crop_and_flip(cifar10):
    x = cifar10[0].images[:16]
    off, flip = augment_params(16, torch.Generator().manual_seed(0))
    out = augment_batch(x, off, flip)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):
        r, c = int(off[0, i]), int(off[1, i])
        ref = padded[i, :, r : r + 32, c : c + 32]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)
    assert 0 < int(flip.sum()) < 16


def test_tinyimagenet10_is_the_first_ten_classes_of_tinyimagenet():
    full, sub = (autosparse.load_dataset(n, "test") for n in ("tinyimagenet", "tinyimagenet10"))
    keep = full.labels < 10
    assert sub.num_classes == 10 and len(sub) == int(keep.sum()) == 500
    assert torch.equal(sub.labels, full.labels[keep])
    assert torch.equal(sub.images, full.images[keep])
    assert torch.bincount(sub.labels).tolist() == [50] * 10


@pytest.mark.parametrize("name", ["mnist", "cifar10", "tinyimagenet10"])
def test_loading_a_class_balanced_subset_equals_subsetting_the_whole_split(name, data_root):
    whole = autosparse.load_dataset(name, "train", data_root)
    for n, seed in ((3, 0), (7, 5)):
        ref = autosparse.class_balanced_subset(whole, n, seed)
        sub = autosparse.load_dataset(name, "train", data_root, n_per_class=n, seed=seed)
        assert torch.equal(sub.images, ref.images) and torch.equal(sub.labels, ref.labels)
    with pytest.raises(ValueError, match="n_per_class"):
        autosparse.load_dataset(name, "train", data_root, n_per_class=0)
