"""Accuracy figures: facet titles name a profile's stand-in dataset."""

import pandas as pd

from autosparse.figures.accuracy import _facet_title


def test_facet_title_names_the_stand_in_dataset():
    runs = pd.DataFrame({"dataset": ["cifar10", "cifar10"]})
    assert _facet_title("vgg19_bn/cifar100", runs) == "vgg19_bn/cifar100 (stand-in: cifar10)"
    assert _facet_title("resnet18/cifar10", runs) == "resnet18/cifar10"
    assert _facet_title("resnet18/cifar10", pd.DataFrame({"x": [1]})) == "resnet18/cifar10"
