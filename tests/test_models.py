"""Models: exact parameter counts (METHODS.md table), prunable set, width, seeded init."""

import pytest
import torch

import autosparse

COUNTS = [  # (model, classes, total trainable, prunable) from METHODS.md
    ("resnet18", 10, 11_173_962, 11_164_352),
    ("resnet20", 10, 272_474, 270_896),
    ("vgg16_bn", 10, 14_728_266, 14_715_584),
    ("vgg19_bn", 10, 20_040_522, 20_024_000),
    ("vgg19_bn", 100, 20_086_692, 20_070_080),
    ("lenet_300_100", 10, 266_610, 266_200),
]


@pytest.mark.parametrize("name,classes,total,prunable", COUNTS)
def test_parameter_counts_match_the_papers(name, classes, total, prunable):
    m = autosparse.build_model(name, classes)
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == total
    assert sum(p.numel() for p in autosparse.prunable_parameters(m).values()) == prunable


def test_prunable_set_is_conv_and_linear_weights_only():
    m = autosparse.build_model("resnet20", 10)
    names = list(autosparse.prunable_parameters(m))
    assert names[0] == "conv1.weight" and names[-1] == "fc.weight"
    assert any("shortcut.0.weight" in n for n in names)  # 1x1 shortcut convs are prunable
    assert not any("bn" in n or n.endswith("bias") for n in names)


def test_width_scales_channels_and_forward_shapes():
    m = autosparse.build_model("resnet18", 10, width=0.25)
    assert m.conv1.out_channels == 16 and m.fc.in_features == 128
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    tiny = autosparse.build_model("resnet18", 200, width=0.125, input_shape=(3, 64, 64))
    assert tiny(torch.zeros(2, 3, 64, 64)).shape == (2, 200)


def test_seeded_kaiming_init_is_reproducible_and_scaled():
    a = autosparse.build_model("lenet_300_100", 10, seed=3)
    b = autosparse.build_model("lenet_300_100", 10, seed=3)
    c = autosparse.build_model("lenet_300_100", 10, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    std = a.fc1.weight.std().item()  # Kaiming normal, fan_in = 784, ReLU gain
    assert abs(std - (2 / 784) ** 0.5) < 0.02 * (2 / 784) ** 0.5 * 10
    assert torch.count_nonzero(a.fc1.bias) == 0


def test_bad_arguments_name_the_value():
    with pytest.raises(KeyError, match="resnet99.*valid"):
        autosparse.build_model("resnet99", 10)
    with pytest.raises(ValueError, match="width"):
        autosparse.build_model("resnet18", 10, width=0)


def test_layer_fans_one_definition_for_survival_and_scorer():
    """Fan-in/out as the scorer's layer context and the survival rows both read them: conv
    fans include the kernel (in*kh*kw, out*kh*kw), linear ones do not."""
    from autosparse.models import layer_fans
    from autosparse.scorer import layer_context

    assert layer_fans((64, 3, 3, 3)) == (27, 576, "conv")
    assert layer_fans((10, 300)) == (300, 10, "linear")
    model = autosparse.build_model("resnet18", 10, width=0.125, seed=0)
    ctx = layer_context(model)
    for name, p in autosparse.prunable_parameters(model).items():
        o, i = p.shape[:2]
        k = p.shape[2] * p.shape[3] if p.dim() == 4 else 1
        assert (ctx[name]["fan_in"], ctx[name]["fan_out"]) == (i * k, o * k), name
