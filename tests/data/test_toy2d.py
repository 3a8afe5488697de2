"""Toy 2-D densities: sampling, exact log-densities and the recipe spec."""

import math

import attrs
import pytest
import torch

from energyflow.data import (
    TOY_DENSITIES,
    TensorData,
    Toy2DSpec,
    sample_toy,
    toy_log_prob,
)
from energyflow.registry import BuildContext

EXACT = ("8gaussians", "rings", "checkerboard")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _grid(resolution, lo=-4.0, hi=4.0):
    width = (hi - lo) / resolution
    axis = lo + (torch.arange(resolution, dtype=torch.float64) + 0.5) * width
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), width


@pytest.mark.parametrize("name", TOY_DENSITIES)
def test_samples_shape_range_and_reproducible(name):
    x = sample_toy(name, 5000, _gen(1))
    assert x.shape == (5000, 2) and x.dtype == torch.float32
    assert x.abs().max() < 4.5 and (x.abs() <= 4).all(dim=1).float().mean() > 0.999
    torch.testing.assert_close(x, sample_toy(name, 5000, _gen(1)))
    assert not torch.equal(x, sample_toy(name, 5000, _gen(2)))


def test_sampling_ignores_global_rng():
    torch.manual_seed(0)
    a = sample_toy("2spirals", 100, _gen(3))
    torch.manual_seed(1)
    torch.testing.assert_close(a, sample_toy("2spirals", 100, _gen(3)))


def test_every_density_has_a_log_prob():
    assert all(toy_log_prob(name) is not None for name in TOY_DENSITIES)


@pytest.mark.parametrize("name", ["2spirals", "moons"])
def test_quadrature_log_prob_matches_sample_histogram_and_integrates_to_one(name):
    """The curve densities (a quadrature along the arm) against a histogram of their own sampler."""
    bins, sub = 16, 6
    points, width = _grid(bins * sub)
    density = toy_log_prob(name)(points).double().exp().reshape(bins, sub, bins, sub)
    expected = density.sum(dim=(1, 3)) * width**2
    assert expected.sum().item() == pytest.approx(1.0, abs=0.01)
    samples = sample_toy(name, 200_000, _gen(4)).double()
    observed = torch.histogramdd(samples, bins=[bins, bins], range=[-4.0, 4.0, -4.0, 4.0]).hist / len(samples)
    total_variation = 0.5 * (observed - expected).abs().sum().item()
    assert total_variation < 0.02, total_variation


@pytest.mark.parametrize("name", EXACT)
def test_log_prob_integrates_to_one(name):
    points, width = _grid(800)
    mass = toy_log_prob(name)(points).exp().sum().item() * width**2
    assert mass == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("name", EXACT)
def test_log_prob_matches_sample_histogram(name):
    """Bin masses from integrating exp(log_prob) agree with a histogram of samples."""
    bins, sub = 16, 24
    points, width = _grid(bins * sub)
    density = toy_log_prob(name)(points).exp().reshape(bins, sub, bins, sub)
    expected = density.sum(dim=(1, 3)) * width**2
    samples = sample_toy(name, 200_000, _gen(4)).double()
    hist = torch.histogramdd(samples, bins=[bins, bins], range=[-4.0, 4.0, -4.0, 4.0]).hist
    observed = hist / len(samples)
    total_variation = 0.5 * (observed - expected).abs().sum().item()
    assert total_variation < 0.02, total_variation
    # samples sit where the density is: mean log-density matches the known value where exact
    if name == "checkerboard":
        assert toy_log_prob(name)(samples).eq(-math.log(32)).all()


def test_rings_log_prob_matches_direct_integral():
    """The Bessel closed form equals the angular average of Gaussians around each circle."""
    x = torch.tensor([[0.0, 0.0], [0.75, 0.0], [1.1, 1.2], [0.0, -3.05], [2.0, -1.0]], dtype=torch.float64)
    theta = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.float64)[:-1]
    s2 = 0.08**2
    dens = torch.zeros(len(x), dtype=torch.float64)
    for r in (0.75, 1.5, 2.25, 3.0):
        c = r * torch.stack([theta.cos(), theta.sin()], dim=1)
        sq = ((x[:, None] - c[None]) ** 2).sum(-1)
        dens += (torch.exp(-sq / (2 * s2)) / (2 * math.pi * s2)).mean(1) / 4
    expected = dens.log()
    got = toy_log_prob("rings")(x)
    finite = expected.isfinite()
    torch.testing.assert_close(got[finite], expected[finite], rtol=1e-6, atol=1e-6)


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=r"did you mean '8gaussians'") as info:
        sample_toy("8gausians", 10, _gen())
    assert "checkerboard" in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        toy_log_prob("nope")
    with pytest.raises(ValueError, match="did you mean 'rings'"):
        Toy2DSpec(density="ring")


def test_sample_toy_argument_errors():
    with pytest.raises(TypeError, match="Generator"):
        sample_toy("moons", 10, None)
    with pytest.raises(ValueError):
        sample_toy("moons", -1, _gen())


def test_spec_builds_tensor_data():
    spec = Toy2DSpec(density="rings", n_train=300, n_test=100)
    data = spec.build(BuildContext(generator=_gen(5)))
    assert isinstance(data, TensorData)
    assert data.train.shape == (300, 2) and data.test.shape == (100, 2)
    assert data.kind == "points" and data.value_range == (-4.0, 4.0) and data.name == "toy2d"
    assert data.num_features == 2 and not data.conditional
    assert data.log_prob(data.test).shape == (100,)
    assert not torch.equal(data.train[:100], data.test)
    again = spec.build(BuildContext(generator=_gen(5)))
    torch.testing.assert_close(again.train, data.train)
    assert Toy2DSpec(density="moons").build(BuildContext()).log_prob is toy_log_prob("moons")


def test_spec_defaults_and_validation():
    spec = Toy2DSpec()
    assert (spec.n_train, spec.n_test) == (20000, 5000)
    assert all(f.metadata.get("help") for f in attrs.fields(Toy2DSpec))
    with pytest.raises(ValueError):
        Toy2DSpec(n_train=0)
    with pytest.raises(TypeError):
        Toy2DSpec(n_test=1.5)
