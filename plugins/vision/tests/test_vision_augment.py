"""Augmentation transitions: shape, range, seeding, what each transform does, and the sampler around them."""

from __future__ import annotations

import importlib.util

import energyflow_vision.plugin
import pytest
import torch
from energyflow_vision.samplers import AugmentedLangevin, ImageAugment

from energyflow import FunctionEnergy, Langevin
from energyflow.recipe import parse_recipe
from energyflow.testing import fresh_plugin_manager, inline_plugin


def images(n=16, c=1, side=8, seed=0):
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", ["torch", pytest.param("kornia", marks=pytest.mark.skipif(
    importlib.util.find_spec("kornia") is None, reason="kornia not installed"))])
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_keeps_shape_and_range_and_is_seeded(backend, channels):
    augment = ImageAugment(crop_scale=(0.5, 1.0), flip=True, brightness=0.4, contrast=0.4, saturation=0.4,
                           value_range=(0.0, 1.0), backend=backend)
    x = images(c=channels)
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    c = augment(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0.0 and a.max() <= 1.0
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c) and not torch.allclose(a, x)


def test_identity_settings_change_nothing_and_flip_mirrors():
    x = images()
    torch.testing.assert_close(ImageAugment(crop_scale=(1.0, 1.0))(x), x)
    # a full-area crop with flips: every image is either itself or its mirror image, about half each
    flipped = ImageAugment(crop_scale=(1.0, 1.0), flip=True)(images(200), torch.Generator().manual_seed(0))
    source = images(200)
    same = (flipped - source).abs().flatten(1).amax(1) < 1e-5
    mirror = (flipped - source.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same | mirror).all() and 60 < int(mirror.sum()) < 140


def test_brightness_scales_and_crop_zooms_in():
    x = torch.full((64, 1, 8, 8), 0.5)
    bright = ImageAugment(crop_scale=(1.0, 1.0), brightness=0.5)(x, torch.Generator().manual_seed(0))
    factors = bright.flatten(1)[:, 0] / 0.5
    assert factors.min() >= 0.5 - 1e-6 and factors.max() <= 1.5 + 1e-6 and factors.std() > 0.1
    # a centred dot grows when the crop zooms in on a quarter of the area
    dot = torch.zeros(1, 1, 8, 8)
    dot[..., 3:5, 3:5] = 1.0
    crop = ImageAugment(crop_scale=(0.25, 0.25))
    zoomed = crop(dot.expand(32, -1, -1, -1).clone(), torch.Generator().manual_seed(1))
    assert zoomed.sum(dim=(1, 2, 3)).mean() > 1.5 * dot.sum()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="crop_scale"):
        ImageAugment(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageAugment()(torch.rand(3, 8, 8))


def test_augmented_langevin_augments_every_k_steps_and_counts_steps():
    energy = FunctionEnergy(lambda x: x.flatten(1).sum(1) * 0.0, name="flat")  # no gradient: only augmentation moves x
    x0 = images(8)
    plain = AugmentedLangevin(steps=6, noise=0.0, clamp=(0.0, 1.0), crop_scale=(1.0, 1.0))
    torch.testing.assert_close(plain.sample(energy, x0, generator=torch.Generator().manual_seed(0)), x0)
    seen, moved = [], []
    sampler = AugmentedLangevin(steps=6, noise=0.0, clamp=(0.0, 1.0), augment_every=2, crop_scale=(1.0, 1.0),
                                brightness=0.5)

    def record(step, x):
        seen.append(step)
        moved.append(x.clone())
    out = sampler.sample(energy, x0, generator=torch.Generator().manual_seed(0), callback=record)
    assert seen == list(range(6))
    # start, then after steps 2 and 4: three augmentations; states are constant within each segment
    torch.testing.assert_close(moved[0], moved[1])
    assert not torch.allclose(moved[1], moved[2])
    torch.testing.assert_close(moved[4], moved[5])
    torch.testing.assert_close(out, moved[5])
    again = sampler.sample(energy, x0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)


def test_augment_prob_moves_only_that_share_of_chains():
    energy = FunctionEnergy(lambda x: x.flatten(1).sum(1) * 0.0, name="flat")
    x0 = images(400)
    sampler = AugmentedLangevin(steps=1, noise=0.0, clamp=(0.0, 1.0), crop_scale=(1.0, 1.0), brightness=0.5,
                                augment_prob=0.25)
    out = sampler.sample(energy, x0, generator=torch.Generator().manual_seed(0))
    changed = (out - x0).abs().flatten(1).amax(1) > 1e-6
    assert 60 < int(changed.sum()) < 140


def test_recipe_builds_augmented_langevin():
    text = """
[data]
kind = "digits"
[energy]
kind = "mnist_net"
filters = 4
stem_filters = 4
[sampler]
kind = "augmented_langevin"
steps = 5
augment_every = 2
crop_scale = [0.8, 1.0]
contrast = 0.2
[buffer]
kind = "replay"
[task]
kind = "generate_images"
"""
    with fresh_plugin_manager() as pm, inline_plugin(energyflow_vision.plugin, "vision", pm):
        recipe = parse_recipe(text, source="aug.toml", pm=pm)
        assert recipe.sampler.kind == "augmented_langevin"
        spec = recipe.sampler.spec
        assert isinstance(spec, AugmentedLangevin) and isinstance(spec, Langevin)
        assert spec.crop_scale == (0.8, 1.0) and spec.augment_every == 2
        with pytest.raises(Exception, match="crop_scale"):
            parse_recipe(text.replace("[0.8, 1.0]", "[0.8, 1.5]"), source="aug.toml", pm=pm)
