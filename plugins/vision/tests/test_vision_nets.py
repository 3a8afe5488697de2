"""The IGEBM image energies: output shapes, conditioning, the head, spectral norm, recipe specs."""

from __future__ import annotations

import pytest
import torch
from energyflow_vision.nets import (
    MnistEnergy,
    MnistNetSpec,
    ResNet32LargeSpec,
    ResNet32Spec,
    ResNet32WiderSpec,
    ResNet128Spec,
    resnet32,
    resnet32_large,
    resnet32_wider,
    resnet128,
)
from energyflow_vision.nets.layers import NEAR_ZERO_STD
from vision_fixtures import ctx

from energyflow import SpectralNorm, TensorData
from energyflow.testing import check_energy

SMALL = {
    "resnet32": lambda c, k: resnet32(c, filters=4, blocks=1, num_classes=k),
    "resnet32_large": lambda c, k: resnet32_large(c, filters=4, blocks=1, num_classes=k),
    "resnet32_wider": lambda c, k: resnet32_wider(c, filters=4, stem_filters=4, blocks=1, num_classes=k),
    "resnet128": lambda c, k: resnet128(c, filters=2, stem_filters=4, blocks=1, num_classes=k),
    "mnist_net": lambda c, k: MnistEnergy((c, 8, 8), filters=4, stem_filters=4, num_classes=k),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_nets_keep_the_energy_contract(name):
    torch.manual_seed(0)
    net = SMALL[name](1, None)
    values = check_energy(net, torch.rand(3, 1, 8, 8))
    assert values.shape == (3,) and net.context_keys == ()
    with pytest.raises(TypeError, match="unexpected context 'y'"):
        net(torch.rand(2, 1, 8, 8), y=torch.tensor([0, 1]))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_conditioning_on_labels_and_attribute_vectors(name):
    torch.manual_seed(0)
    net = SMALL[name](3, 4)
    _perturb_conditioning(net)
    x = torch.rand(2, 3, 8, 8)
    labels = torch.tensor([1, 3])
    by_label = check_energy(net, x, y=labels)
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    assert torch.allclose(net(x, y=one_hot), by_label, atol=1e-5)  # a one-hot vector is its label
    assert not torch.allclose(net(x, y=torch.tensor([0, 0])), by_label)  # the class matters
    assert net.context_keys == ("y",)
    assert torch.allclose(net.condition(y=1)(x[:1]), net(x[:1], y=labels[:1]))
    with pytest.raises(TypeError, match="conditional"):
        net(x)
    with pytest.raises(ValueError, match="expected y"):
        net(x, y=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        net(x, y=torch.tensor([0, 4]))


def _perturb_conditioning(net):
    """Conditioning tables start at zero (every class alike); give them values to tell classes apart."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "input_bias" in name or "output_gain" in name:
                p.normal_(0, 0.5)
            if "conv2.conv" in name:
                p.normal_(0, 0.1)


def test_full_size_shapes_match_the_paper():
    x32 = torch.rand(2, 3, 32, 32)
    net = resnet32(num_classes=10)
    assert net(x32, y=torch.tensor([0, 9])).shape == (2,)
    assert net.head.in_features == 256 and len(net.blocks) == 6
    large = resnet32_large(filters=8)
    assert [b.conv1.conv.out_channels for b in large.blocks] == [8] * 3 + [16] * 3 + [32] * 3
    assert large(x32).shape == (2,)
    wider = resnet32_wider(filters=8)
    assert wider.stem.out_channels == 128 and wider.head.in_features == 32
    big = resnet128(filters=4, stem_filters=4)
    assert big(torch.rand(1, 3, 128, 128)).shape == (1,) and big.head.in_features == 32
    mnist = MnistEnergy((1, 28, 28))
    assert mnist.dense.in_features == 4 * 64 * 4 * 4  # 28 -> 14 -> 7 -> 4, as TensorFlow's SAME padding
    assert mnist(torch.rand(2, 1, 28, 28)).shape == (2,)


def test_second_conv_starts_near_zero_and_head_escapes_spectral_norm():
    net = resnet32(1, filters=8, blocks=1)
    for block in net.blocks:
        assert block.conv2.conv.weight.abs().max() < 100 * NEAR_ZERO_STD
        assert block.conv1.conv.weight.abs().max() > 1e-3
    names = [n for n, _ in net.named_modules()]
    assert "head" in names
    SpectralNorm().prepare(net)
    parametrized = {n for n, m in net.named_modules() if hasattr(m, "parametrizations")}
    assert "head" not in parametrized and "stem" in parametrized and "blocks.0.conv1.conv" in parametrized
    # the gains and biases are plain parameters, never normalised
    assert not any("film" in n for n in parametrized)


def _data(shape=(1, 8, 8), labels=True):
    train = torch.rand(4, *shape)
    y = torch.tensor([0, 1, 2, 1]) if labels else None
    return TensorData(name="t", train=train, test=train, train_labels=y, test_labels=y,
                      num_classes=3 if labels else None)


@pytest.mark.parametrize("spec", [
    ResNet32Spec(filters=4, blocks=1), ResNet32LargeSpec(filters=4, blocks=1),
    ResNet32WiderSpec(filters=4, stem_filters=4, blocks=1), ResNet128Spec(filters=2, stem_filters=4, blocks=1),
    MnistNetSpec(filters=4, stem_filters=4),
])
def test_specs_build_from_the_data(spec):
    c = ctx()
    c.data = _data()
    energy = spec.build(c)
    assert energy(c.data.train).shape == (4,) and energy.context_keys == ()
    conditional = type(spec)(**{**_fields(spec), "conditional": True}).build(c)
    assert conditional(c.data.train, y=c.data.train_labels).shape == (4,)
    c.data = _data(labels=False)
    with pytest.raises(ValueError, match="has no labels"):
        type(spec)(**{**_fields(spec), "conditional": True}).build(c)


def _fields(spec):
    import attrs

    return attrs.asdict(spec, recurse=False)


def test_spec_rejects_points_and_bad_options():
    c = ctx()
    c.data = TensorData(name="pts", train=torch.rand(4, 2), test=torch.rand(4, 2), kind="points")
    with pytest.raises(ValueError, match=r"needs images of shape \(channels, height, width\)"):
        ResNet32Spec().build(c)
    with pytest.raises(ValueError):
        ResNet32Spec(activation="tanhh")
    with pytest.raises((TypeError, ValueError)):
        ResNet32Spec(filters=0)


@pytest.mark.slow
def test_a_conditional_net_compiles_whole_and_agrees_with_eager():
    from energyflow.core.energy import energy_and_grad
    from energyflow.samplers.fast_path import CompiledStep

    torch.manual_seed(0)
    energy = MnistEnergy((1, 8, 8), filters=8, stem_filters=8, num_classes=10)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    step = CompiledStep()
    values, grad = step(energy, x, y=y)
    assert step.failed is None and step.compile_s is not None  # the label range check stays out of the graph
    eager_values, eager_grad = energy_and_grad(energy, x, y=y)
    assert torch.allclose(values, eager_values, atol=1e-5) and torch.allclose(grad, eager_grad, atol=1e-5)
    step(energy, x, y=torch.randint(0, 10, (16,)))  # new labels, same graph
    assert step.misses == 0
    with pytest.raises(ValueError, match="labels must lie in"):
        energy_and_grad(energy, x, y=torch.full((16,), 10))  # eager still checks
