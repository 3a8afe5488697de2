"""MLPEnergy and its recipe spec."""

import attrs
import pytest
import torch
from torch.nn.utils.parametrizations import spectral_norm

from energyflow.core import energy_and_grad
from energyflow.data import TensorData, Toy2DSpec
from energyflow.models import MLPEnergy, MLPEnergySpec
from energyflow.registry import BuildContext


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_output_shape_and_flattening():
    energy = MLPEnergy(in_features=12, hidden=(16, 8))
    out = energy(torch.randn(5, 3, 4, generator=_gen()))
    assert out.shape == (5,)
    assert energy.context_keys == ()
    assert [m.out_features for m in energy.body if isinstance(m, torch.nn.Linear)] == [16, 8]
    assert energy.head.out_features == 1


def test_wrong_feature_count_is_clear():
    with pytest.raises(ValueError, match="expected 2 features"):
        MLPEnergy(in_features=2)(torch.zeros(4, 3))


def test_unconditional_rejects_y():
    with pytest.raises(TypeError, match="unexpected context 'y'"):
        MLPEnergy(in_features=2)(torch.zeros(4, 2), y=torch.zeros(4, dtype=torch.long))


def test_conditional_needs_y_and_uses_it():
    torch.manual_seed(0)  # parameter init only
    energy = MLPEnergy(in_features=2, hidden=(32,), num_classes=3)
    assert energy.context_keys == ("y",)
    x = torch.randn(6, 2, generator=_gen())
    with pytest.raises(TypeError, match="class-conditional"):
        energy(x)
    e0 = energy(x, y=torch.zeros(6, dtype=torch.long))
    e1 = energy(x, y=torch.ones(6, dtype=torch.long))
    assert e0.shape == (6,) and not torch.allclose(e0, e1)
    # a one-hot float vector is the same as its label; condition() broadcasts a scalar label
    onehot = torch.nn.functional.one_hot(torch.ones(6, dtype=torch.long), 3).float()
    torch.testing.assert_close(energy(x, y=onehot), e1)
    torch.testing.assert_close(energy.condition(y=1)(x), e1)
    with pytest.raises(ValueError, match="expected y"):
        energy(x, y=torch.zeros(6, 2))


def test_spectral_norm_friendly_and_differentiable():
    energy = MLPEnergy(in_features=2, hidden=(16, 16))
    names = dict(energy.named_modules())
    assert "head" in names
    for name, module in names.items():
        if isinstance(module, torch.nn.Linear) and name != "head":
            spectral_norm(module)
    x = torch.randn(7, 2, generator=_gen())
    values, grad = energy_and_grad(energy, x)
    assert values.shape == (7,) and grad.shape == (7, 2)
    assert all(p.grad is None for p in energy.parameters())


def test_spec_builds_from_data():
    data = Toy2DSpec(density="moons", n_train=64, n_test=16).build(BuildContext())
    energy = MLPEnergySpec(hidden=[64, 32]).build(BuildContext(data=data))
    assert isinstance(energy, MLPEnergy) and energy.in_features == 2 and energy.hidden == (64, 32)
    assert energy(data.train).shape == (64,)
    with pytest.raises(ValueError, match="no class labels"):
        MLPEnergySpec(conditional=True).build(BuildContext(data=data))


def test_spec_builds_conditional_energy():
    labels = torch.arange(10) % 4
    data = TensorData(name="x", train=torch.zeros(10, 1, 2, 2), test=torch.zeros(2, 1, 2, 2),
                      train_labels=labels, num_classes=4)
    energy = MLPEnergySpec(conditional=True).build(BuildContext(data=data))
    assert energy.num_classes == 4 and energy.in_features == 4
    assert energy(data.train, y=labels).shape == (10,)


@pytest.mark.parametrize("bad", [{"hidden": ()}, {"hidden": (0, 4)}, {"hidden": (True,)},
                                 {"hidden": "128"}, {"conditional": 1}])
def test_spec_validates(bad):
    with pytest.raises((TypeError, ValueError)):
        MLPEnergySpec(**bad)


def test_spec_fields_have_help():
    assert all(f.metadata.get("help") for f in attrs.fields(MLPEnergySpec))
