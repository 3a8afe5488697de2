"""The synthetic ``faces``: seeded CelebA-format labels, pixels that agree with them, attribute frequencies
that follow the stated model, and attributes a small CNN learns from the pictures."""

from __future__ import annotations

import pytest
import torch
from energyflow_vision.data.face_drawing import ATTRIBUTES, FaceDrawing, Nuisance
from energyflow_vision.data.faces import (
    DEFAULT_ATTRIBUTES,
    FacesSpec,
    attribute_probability,
    draw_attributes,
    joint_table,
)
from vision_fixtures import ctx

from energyflow.compose import LabelCoding, label_columns
from energyflow.registry import get_registry

SIDE = 32


def _rows(n: int, **values: int) -> torch.Tensor:
    """``n`` identical attribute rows over `ATTRIBUTES`: a young brown-haired straight-haired woman, no smile,
    no glasses, unless ``values`` says otherwise."""
    row = dict.fromkeys(ATTRIBUTES, 0) | {"Young": 1} | values
    return torch.tensor([[float(row[a]) for a in ATTRIBUTES]]).repeat(n, 1)


def _draw(rows: torch.Tensor, nuisance: Nuisance) -> torch.Tensor:
    return FaceDrawing(size=SIDE).render(rows, nuisance).float() / 255


def _pixel(nz: Nuisance, u: float, v: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of the pixel at local face coordinates ``(u, v)`` in each image."""
    x = (nz.centre[:, 0] + nz.scale * u) * SIDE
    y = (nz.centre[:, 1] + nz.scale * v) * SIDE
    return y.long(), x.long()


def test_build_gives_celeba_format_images_and_labels():
    data = FacesSpec(train_size=24, test_size=12).build(ctx(0))
    assert data.name == "faces" and data.kind == "image" and data.value_range == (0.0, 1.0)
    assert data.train.shape == (24, 3, SIDE, SIDE) and data.test.shape == (12, 3, SIDE, SIDE)
    assert data.train.dtype == data.test.dtype == torch.float32
    assert data.train.min() >= 0 and data.train.max() < 1 and data.test.min() >= 0 and data.test.max() <= 1
    assert data.train_labels.shape == (24, 6) and data.test_labels.shape == (12, 6)
    assert data.train_labels.dtype == torch.float32
    assert set(data.train_labels.unique().tolist()) <= {0.0, 1.0}
    assert data.class_names == DEFAULT_ATTRIBUTES and data.num_classes == 6
    names, columns = label_columns(data)  # what a composition recipe's named energies read
    assert names == DEFAULT_ATTRIBUTES and torch.equal(columns, data.train_labels)
    assert LabelCoding.of(data, ("Smiling",)).sizes == (2,)
    for side in (16, 64):
        small = FacesSpec(size=side, train_size=3, test_size=2, dequantize=False).build(ctx(0))
        assert small.train.shape == (3, 3, side, side)
    for side in (8, 65):
        with pytest.raises(ValueError):
            FacesSpec(size=side)


def test_images_are_fixed_by_the_seed():
    spec = FacesSpec(train_size=16, test_size=8)
    a, b, c = spec.build(ctx(0)), spec.build(ctx(0)), spec.build(ctx(1))
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test) and torch.equal(a.train_labels, b.train_labels)
    assert not torch.equal(a.train, c.train) and not torch.equal(a.test, c.test)


def test_attributes_option_picks_and_orders_the_columns():
    full = FacesSpec(attributes=[], train_size=40, test_size=10).build(ctx(2))
    assert full.class_names == ATTRIBUTES and full.train_labels.shape == (40, 7)
    picked = FacesSpec(attributes=["Young", "Smiling"], train_size=40, test_size=10).build(ctx(2))
    assert picked.class_names == ("Young", "Smiling") and picked.num_classes == 2
    order = [ATTRIBUTES.index("Young"), ATTRIBUTES.index("Smiling")]
    assert torch.equal(picked.train_labels, full.train_labels[:, order])
    assert torch.equal(picked.test_labels, full.test_labels[:, order])
    assert torch.equal(picked.train, full.train)  # the choice of columns does not change the draw
    both = full.train_labels[:, ATTRIBUTES.index("Black_Hair")] * full.train_labels[:, ATTRIBUTES.index("Blond_Hair")]
    assert not both.any()  # one hair colour each


def test_a_bad_attribute_name_is_a_one_line_error_naming_the_choices():
    with pytest.raises(ValueError) as error:
        FacesSpec(attributes=["Smiling", "Bald"])
    message = str(error.value)
    assert "\n" not in message and "unknown attribute 'Bald'" in message and "pick some of these" in message
    assert all(name in message for name in ATTRIBUTES)
    with pytest.raises(ValueError, match="repeat"):
        FacesSpec(attributes=["Male", "Male"])


def test_registered_as_a_dataset():
    assert get_registry("dataset").resolve("faces").factory is FacesSpec


def test_eyeglasses_draw_frames_round_the_eyes_and_nothing_else():
    nz = Nuisance.draw(16, torch.Generator().manual_seed(3))
    diff = (_draw(_rows(16, Eyeglasses=1), nz) - _draw(_rows(16), nz)).abs().amax(1)  # (N, H, W)
    top, _ = _pixel(nz, 0.0, -0.11)
    bottom, _ = _pixel(nz, 0.0, 0.07)
    rows = torch.arange(SIDE)
    for d, t, b in zip(diff, top, bottom):
        assert (d > 0.25).sum() >= 20, "the frames cover many pixels"
        outside = (rows < t) | (rows > b + 1)
        assert d[outside].max() == 0, "glasses change only the band of the eyes"


def test_smiling_changes_only_the_mouth():
    nz = Nuisance.draw(16, torch.Generator().manual_seed(4))
    for sex in (0, 1):
        diff = (_draw(_rows(16, Smiling=1, Male=sex), nz) - _draw(_rows(16, Male=sex), nz)).abs().amax(1)
        top, left = _pixel(nz, -0.13, 0.09)
        bottom, right = _pixel(nz, 0.13, 0.235)
        for d, t, b, lo, hi in zip(diff, top, bottom, left, right):
            assert (d > 0.15).sum() >= 5
            box = torch.zeros_like(d, dtype=torch.bool)
            box[t : b + 2, lo : hi + 2] = True
            assert d[~box].max() == 0


def test_hair_beside_the_face_is_female_and_its_colour_is_the_hair_label():
    nz = Nuisance.draw(24, torch.Generator().manual_seed(5))
    index = torch.arange(24)
    y, x = _pixel(nz, -0.27, 0.2)  # left of the jaw, above the shoulders, inside long hair
    for male in (0, 1):
        side = _draw(_rows(24, Male=male), nz)[index, :, y, x]  # (N, 3)
        background = nz.background.view(-1, 1).expand(-1, 3)
        assert (side - background).abs().amax(1).lt(0.02).all() == bool(male)
        assert (side - background).abs().amax(1).gt(0.2).all() == (not male)
    ys, xs = _pixel(nz, 0.0, -0.31)  # top of the head
    luma = torch.tensor([0.299, 0.587, 0.114])
    shades = {}
    for name, values in (("black", {"Black_Hair": 1}), ("blond", {"Blond_Hair": 1}), ("brown", {})):
        for male in (0, 1):
            shades[name, male] = _draw(_rows(24, Male=male, **values), nz)[index, :, ys, xs] @ luma
    for male in (0, 1):
        assert shades["black", male].max() < 0.15 < shades["brown", male].min()
        assert shades["brown", male].max() < 0.45 < shades["blond", male].min()


def _mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Per image, the mean of ``values`` ``(N, H, W)`` over the pixels ``where`` is true."""
    return (values * where).sum((1, 2)) / where.sum((1, 2))


def test_old_hair_is_lighter_and_greyer_and_wavy_hair_has_a_wavy_edge():
    nz = Nuisance.draw(12, torch.Generator().manual_seed(6))
    index = torch.arange(12)

    for male in (0, 1):
        young, old = _draw(_rows(12, Male=male), nz), _draw(_rows(12, Male=male, Young=0), nz)
        hair = (young - nz.background.view(-1, 1, 1, 1)).abs().amax(1) > 0.2  # the brown hair, not the background
        top, _ = _pixel(nz, 0.0, -0.2)
        hair &= torch.arange(SIDE).view(1, -1, 1) <= top.view(-1, 1, 1)  # above the forehead: not the face

        lighter = _mean(old.mean(1), hair) - _mean(young.mean(1), hair)
        greyer = _mean(young.amax(1) - young.amin(1), hair) - _mean(old.amax(1) - old.amin(1), hair)
        assert (lighter > 0.08).all() and (greyer > 0.05).all()

    def edge_columns(images: torch.Tensor) -> torch.Tensor:
        """Per image, per row beside the jaw, the leftmost column that is no longer background."""
        background = nz.background.view(-1, 1, 1)
        hair = (images - background.unsqueeze(1)).abs().amax(1) > 0.1  # (N, H, W)
        top, _ = _pixel(nz, 0.0, 0.0)
        bottom, _ = _pixel(nz, 0.0, 0.3)
        return torch.stack([hair[i, top[i] : bottom[i]].float().argmax(1)[:8] for i in index])

    straight = edge_columns(_draw(_rows(12), nz))
    wavy = edge_columns(_draw(_rows(12, Wavy_Hair=1), nz))
    assert (straight.amax(1) - straight.amin(1)).max() == 0  # a straight edge: the same column in every row
    assert ((wavy.amax(1) - wavy.amin(1)) >= 2).all()  # a wave of +-0.04 of the side moves it over 2 pixels


def test_probability_is_the_stated_model():
    young = 0.42 * 0.68 + 0.58 * 0.85
    assert attribute_probability({}) == pytest.approx(1.0)
    assert attribute_probability({"Young": 1}) == pytest.approx(young)
    assert attribute_probability({"Young": 1, "Eyeglasses": 1}) == pytest.approx(young * 0.03)
    assert attribute_probability({"Young": 0, "Eyeglasses": 1}) == pytest.approx((1 - young) * 0.20)
    assert attribute_probability({"Male": 1, "Wavy_Hair": 1}) == pytest.approx(0.42 * 0.06)
    assert attribute_probability({"Black_Hair": 1}) == pytest.approx(0.42 * 0.27 + 0.58 * 0.22)
    assert attribute_probability({"Black_Hair": 1, "Blond_Hair": 1}) == 0.0
    assert attribute_probability({"Young": 1, "Male": 0, "Smiling": 1}) == pytest.approx(0.58 * 0.85 * 0.54)
    with pytest.raises(ValueError, match="unknown attribute"):
        attribute_probability({"Bald": 1})


def test_drawn_attribute_frequencies_match_the_model():
    """Chi-square goodness of fit of 200,000 drawn rows to the model's joint table (cells expected fewer
    than 5 times pooled), at significance 0.001: the draw is seeded, so this checks the sampler against
    the exact probabilities without being flaky; a wrong conditional probability (0.03 for 0.05, say)
    moves the statistic by thousands."""
    from scipy.stats import chi2

    n = 200_000
    rows, prob = joint_table()
    drawn = draw_attributes(n, torch.Generator().manual_seed(7))
    weights = 2 ** torch.arange(len(ATTRIBUTES) - 1, -1, -1)
    counts = torch.bincount((drawn.long() * weights).sum(1), minlength=len(rows)).double()
    assert torch.equal((rows.long() * weights).sum(1), torch.arange(len(rows)))  # rows in binary order
    assert counts[prob == 0].sum() == 0
    expected = prob * n
    big = expected >= 5
    observed = torch.cat([counts[big], counts[~big].sum().view(1)])
    wanted = torch.cat([expected[big], expected[~big].sum().view(1)])
    statistic = float(((observed - wanted) ** 2 / wanted).sum())
    assert statistic < chi2.ppf(0.999, len(observed) - 1), statistic
    male, young = drawn[:, ATTRIBUTES.index("Male")] > 0, drawn[:, ATTRIBUTES.index("Young")] > 0
    glasses = drawn[:, ATTRIBUTES.index("Eyeglasses")]
    wavy = drawn[:, ATTRIBUTES.index("Wavy_Hair")]
    for share, p, count in ((glasses[young].mean(), 0.03, young.sum()), (glasses[~young].mean(), 0.20, (~young).sum()),
                            (wavy[male].mean(), 0.06, male.sum()), (wavy[~male].mean(), 0.45, (~male).sum())):
        assert abs(float(share) - p) < 4 * (p * (1 - p) / float(count)) ** 0.5  # within 4 standard errors


def test_a_small_cnn_learns_every_attribute():
    """A three-layer CNN, 400 Adam steps on 1,500 faces (seconds on one CPU thread), tells every attribute
    on 500 new faces: accuracy >= 0.9 and, for the rare ones, balanced accuracy >= 0.85."""
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared machine one thread is the faster
    try:
        data = FacesSpec(attributes=[], train_size=1500, test_size=500).build(ctx(8))
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 4 * 4, len(ATTRIBUTES)))
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(400):
            batch = torch.randint(0, len(data.train), (64,), generator=generator)
            loss = nn.functional.binary_cross_entropy_with_logits(net(data.train[batch]), data.train_labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            predicted = (net(data.test) > 0).float()
    finally:
        torch.set_num_threads(threads)
    truth = data.test_labels
    accuracy = (predicted == truth).float().mean(0)
    hits = (predicted == truth).float()
    balanced = 0.5 * ((hits * truth).sum(0) / truth.sum(0) + (hits * (1 - truth)).sum(0) / (1 - truth).sum(0))
    report = {name: (round(float(a), 3), round(float(b), 3)) for name, a, b in zip(data.class_names, accuracy, balanced)}
    assert (accuracy >= 0.9).all() and (balanced >= 0.85).all(), report
