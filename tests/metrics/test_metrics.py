"""grid_nll, auroc, frechet_distance and mmd against closed forms and sklearn."""

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from energyflow.core import FunctionEnergy, GaussianEnergy
from energyflow.data import sample_toy, toy_log_prob
from energyflow.metrics import (
    auroc,
    frechet_distance,
    frechet_from_stats,
    grid_nll,
    mmd,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- grid_nll
def test_grid_nll_of_gaussian_is_analytic():
    mean, cov = torch.tensor([0.5, -0.3]), torch.tensor([[0.6, 0.2], [0.2, 0.4]])
    energy = GaussianEnergy(mean, cov)
    test = mean + torch.randn(2000, 2, generator=_gen()) @ torch.linalg.cholesky(cov).T
    out = grid_nll(energy, test, log_prob=energy.log_prob, batch_size=10_000)
    analytic_log_z = math.log(2 * math.pi) + 0.5 * torch.logdet(cov).item()
    assert out["log_z"] == pytest.approx(analytic_log_z, abs=0.01)
    assert out["nll"] == pytest.approx(-energy.log_prob(test).mean().item(), abs=0.01)
    assert out["gap"] == pytest.approx(0.0, abs=0.01)
    assert set(out) == {"nll", "log_z", "true_nll", "gap"}


def test_grid_nll_sees_a_shift_in_energy_and_a_bad_model():
    energy = GaussianEnergy(torch.zeros(2), torch.eye(2))
    test = torch.randn(1000, 2, generator=_gen(1))
    base = grid_nll(energy, test, resolution=128)
    shifted = grid_nll(energy + FunctionEnergy(lambda x: torch.full((x.shape[0],), 3.0)), test, resolution=128)
    assert shifted["nll"] == pytest.approx(base["nll"], abs=1e-4)  # constants cancel in the NLL
    assert shifted["log_z"] == pytest.approx(base["log_z"] - 3.0, abs=1e-4)
    wide = grid_nll(GaussianEnergy(torch.zeros(2), 4 * torch.eye(2)), test, resolution=128)
    assert wide["nll"] > base["nll"] + 0.3
    assert "true_nll" not in base


@pytest.mark.parametrize("name", ["8gaussians", "rings", "checkerboard"])
def test_grid_nll_of_true_toy_density_has_zero_gap(name):
    log_prob = toy_log_prob(name)
    energy = FunctionEnergy(lambda x: -log_prob(x), name=name)
    out = grid_nll(energy, sample_toy(name, 2000, _gen(2)), log_prob=log_prob, resolution=256)
    assert out["log_z"] == pytest.approx(0.0, abs=0.01)
    assert out["gap"] == pytest.approx(0.0, abs=0.01)


def test_grid_nll_restores_mode_and_rejects_huge_grids():
    energy = GaussianEnergy(torch.zeros(2), torch.eye(2)).train()
    grid_nll(energy, torch.zeros(3, 2), resolution=16)
    assert energy.training
    with pytest.raises(ValueError, match="low-dimensional"):
        grid_nll(GaussianEnergy(torch.zeros(5), torch.eye(5)), torch.zeros(3, 5), resolution=256)


# ---------------------------------------------------------------- auroc
def test_auroc_matches_sklearn_with_ties():
    g = _gen(3)
    pos = torch.randint(0, 20, (300,), generator=g).float() + 2.0
    neg = torch.randint(0, 20, (200,), generator=g).float()
    labels = [1] * len(pos) + [0] * len(neg)
    expected = roc_auc_score(labels, torch.cat([pos, neg]).numpy())
    assert auroc(pos, neg) == pytest.approx(expected, abs=1e-12)
    cont_pos, cont_neg = torch.randn(50, generator=g) + 0.5, torch.randn(70, generator=g)
    expected = roc_auc_score([1] * 50 + [0] * 70, torch.cat([cont_pos, cont_neg]).numpy())
    assert auroc(cont_pos, cont_neg) == pytest.approx(expected, abs=1e-12)


def test_auroc_extremes():
    assert auroc([2.0, 3.0, 4.0], [0.0, 1.0]) == 1.0
    assert auroc([0.0, 1.0], [2.0, 3.0, 4.0]) == 0.0
    same = torch.randn(40, generator=_gen(4))
    assert auroc(same, same) == pytest.approx(0.5)
    assert auroc(torch.ones(5), torch.ones(7)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="empty"):
        auroc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        auroc([float("nan")], [1.0])


# ---------------------------------------------------------------- frechet
def test_frechet_closed_form_for_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]).double(), torch.tensor([1.0, 1.0, 0.5]).double()
    var1, var2 = torch.tensor([1.0, 4.0, 0.25]).double(), torch.tensor([2.0, 1.0, 0.25]).double()
    expected = ((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum()
    assert frechet_from_stats(mu1, torch.diag(var1), mu2, torch.diag(var2)) == pytest.approx(expected.item(), rel=1e-9)
    g = _gen(5)
    a = mu1 + var1.sqrt() * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    b = mu2 + var2.sqrt() * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=0.05)


def test_frechet_zero_for_identical_sets_and_symmetric():
    g = _gen(6)
    a = torch.randn(500, 8, generator=g) @ torch.randn(8, 8, generator=g)  # correlated features
    b = torch.randn(400, 8, generator=g) + 0.3
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    assert frechet_distance(a, b) > 0.5
    with pytest.raises(ValueError, match="feature sizes"):
        frechet_distance(a, b[:, :3])


def test_frechet_of_rank_deficient_covariances_stays_real():
    feats = torch.randn(5, 32, generator=_gen(7))  # 5 samples in 32-D: singular covariance
    value = frechet_distance(feats, feats + 1.0)
    assert math.isfinite(value) and value == pytest.approx(32.0, rel=1e-5)


# ---------------------------------------------------------------- mmd
def test_mmd_near_zero_for_same_distribution_and_positive_when_shifted():
    g = _gen(8)
    x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    shifted = torch.randn(500, 2, generator=g) + torch.tensor([1.0, 0.0])
    same, different = mmd(x, y), mmd(x, shifted)
    assert abs(same) < 0.01
    assert different > 0.1 and different > 10 * abs(same)
    assert mmd(x, shifted, bandwidth=1.0) > 0.1


def test_mmd_matches_direct_formula():
    g = _gen(9)
    x, y = torch.randn(30, 3, generator=g).double(), torch.randn(20, 3, generator=g).double() + 0.5
    k = lambda a, b: torch.exp(-torch.cdist(a, b) ** 2 / 2)
    kxx, kyy = k(x, x), k(y, y)
    expected = ((kxx.sum() - kxx.trace()) / (30 * 29) + (kyy.sum() - kyy.trace()) / (20 * 19)
                - 2 * k(x, y).mean())
    assert mmd(x, y, bandwidth=1.0) == pytest.approx(expected.item(), abs=1e-9)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(x, y, bandwidth=0.0)
