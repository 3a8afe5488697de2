"""Nearest-neighbour realism: improved precision and the distance ratio, against loops written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from energyflow.metrics import distance_ratio, knn_radii, nearest_distance, realistic


def _points(n: int, seed: int, dim: int = 3) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def _brute_radii(ref: list[list[float]], k: int) -> list[float]:
    return [sorted(math.dist(r, o) for j, o in enumerate(ref) if j != i)[k - 1] for i, r in enumerate(ref)]


def test_radii_and_realism_match_a_loop():
    ref, samples = _points(40, 0), _points(25, 1) * 1.5
    radii = _brute_radii(ref.tolist(), 3)
    assert knn_radii(ref, 3).tolist() == pytest.approx(radii)
    expected = [any(math.dist(s, r) <= rad for r, rad in zip(ref.tolist(), radii)) for s in samples.tolist()]
    got = realistic(samples, ref, k=3).tolist()
    assert got == expected and 0 < sum(got) < len(got)  # both outcomes occur, so the comparison means something


def test_realism_on_a_closed_case():
    # reference on a line 0, 1, 2, 3; with k = 1 every radius is 1, so reach is [-1, 4]
    ref = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    samples = torch.tensor([[-0.9], [4.0], [4.5], [-1.5], [1.5]])  # 4.0 on the ball's edge counts as inside
    assert realistic(samples, ref, k=1).tolist() == [True, True, False, False, True]
    # k = 2: radii are 2, 1, 1, 2 -> reach [-2, 5]
    assert realistic(samples, ref, k=2).tolist() == [True, True, True, True, True]


def test_images_are_flattened_and_nearest_distance_is_exact():
    ref = torch.zeros(3, 1, 2, 2)
    ref[1] += 1.0
    x = torch.full((2, 1, 2, 2), 0.25)
    assert nearest_distance(x, ref).tolist() == pytest.approx([0.5, 0.5])  # sqrt(4 * 0.25^2)


def test_distance_ratio_is_zero_for_real_and_one_for_noise():
    ref, real, noise = _points(50, 0), _points(20, 1), _points(20, 2) * 4 + 6
    assert distance_ratio(real, real, noise, ref) == pytest.approx(0.0)
    assert distance_ratio(noise, real, noise, ref) == pytest.approx(1.0)
    d = lambda x: float(torch.tensor([min(math.dist(a, b) for b in ref.tolist()) for a in x.tolist()]).mean())
    mid = (real + noise) / 2
    assert distance_ratio(mid, real, noise, ref) == pytest.approx((d(mid) - d(real)) / (d(noise) - d(real)))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="k = 5"):
        knn_radii(_points(5, 0), 5)
    with pytest.raises(ValueError, match="samples: expected a non-empty batch"):
        realistic(torch.zeros(0, 3), _points(5, 0))
    with pytest.raises(ValueError, match="no farther"):
        distance_ratio(_points(4, 0), _points(4, 1) * 10, _points(4, 1), _points(6, 2))


def test_one_reference_scores_many_sample_sets_as_the_functions_do():
    from energyflow.metrics import RealismReference

    ref, real, noise = _points(50, 0), _points(20, 1), _points(20, 2) * 4 + 6
    scores = RealismReference(ref, k=3).anchor(real, noise)
    for seed in (3, 4):
        samples = _points(15, seed) * 2
        assert torch.equal(scores.realistic(samples), realistic(samples, ref, k=3))
        assert scores.distance_ratio(samples) == pytest.approx(distance_ratio(samples, real, noise, ref))
    with pytest.raises(ValueError, match="call anchor"):
        RealismReference(ref).distance_ratio(real)
