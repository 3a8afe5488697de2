"""``faces``: procedural cartoon faces, synthetic stand-ins labelled like CelebA; no download.

Not CelebA, nor derived from it: each face is drawn from scratch (`face_drawing.FaceDrawing`) from
the run's seed, so composition recipes written for ``celeba`` (young & female & smiling, OR,
NOT, ...) run on a CPU in minutes. Its label columns are CelebA's attribute names with CelebA's
format: a float vector in {0, 1} per image over the ``attributes`` picked, ``class_names`` the
attribute names, ``num_classes`` their number.

Attributes are drawn from a small generative model whose dependencies mimic CelebA's (so some
combinations are rare, as they are there: eyeglasses on the young, wavy hair on men):

======================  ==================  ==================  =================
attribute               P(= 1 | male)       P(= 1 | female)     marginal
======================  ==================  ==================  =================
Male                    0.42 (no parent)                        0.42
Young                   0.68                0.85                0.7786
Smiling                 0.40                0.54                0.4812
Wavy_Hair               0.06                0.45                0.2862
Black_Hair              0.27                0.22                0.2410
Blond_Hair              0.02                0.24                0.1476
Eyeglasses              0.03 if Young, 0.20 if not (any sex)    0.067638
======================  ==================  ==================  =================

Given Male, the others are independent, except Eyeglasses, which depends on Young only. Hair colour
is one draw: black, blond or else brown (so Black_Hair and Blond_Hair are never both 1).
`attribute_probability` gives the exact probability of any partial assignment, e.g.
``attribute_probability({"Young": 1, "Eyeglasses": 1})`` is 0.7786 * 0.03 = 0.0234 and young &
female & smiling is 0.2662; `draw_attributes` samples rows. Train and test splits are independent
draws from the same model.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import TensorData
from energyflow_vision.data.arrays import unit_splits
from energyflow_vision.data.face_drawing import ATTRIBUTES, FaceDrawing, Nuisance

#: The columns a ``faces`` dataset gives by default (those of ``recipes/compose_celeba.toml``).
DEFAULT_ATTRIBUTES = ("Smiling", "Male", "Young", "Wavy_Hair", "Black_Hair", "Eyeglasses")
P_MALE = 0.42
#: P(attribute = 1 | Male = 1), P(attribute = 1 | Male = 0).
P_GIVEN_MALE = {"Young": (0.68, 0.85), "Smiling": (0.40, 0.54), "Wavy_Hair": (0.06, 0.45),
                "Black_Hair": (0.27, 0.22), "Blond_Hair": (0.02, 0.24)}
#: P(Eyeglasses = 1 | Young = 1), P(Eyeglasses = 1 | Young = 0).
P_EYEGLASSES_GIVEN_YOUNG = (0.03, 0.20)


def _col(name: str) -> int:
    return ATTRIBUTES.index(name)


def joint_table() -> tuple[torch.Tensor, torch.Tensor]:
    """Every 0/1 row over `ATTRIBUTES` ``(2**7, 7)`` and its probability under the model ``(2**7,)`` (float64)."""
    rows = torch.tensor(list(itertools.product((0, 1), repeat=len(ATTRIBUTES))), dtype=torch.float64)
    male = rows[:, _col("Male")]

    def bern(p1: torch.Tensor | float, p0: torch.Tensor | float, given: torch.Tensor, x: torch.Tensor):
        p = given * p1 + (1 - given) * p0
        return x * p + (1 - x) * (1 - p)

    prob = male * P_MALE + (1 - male) * (1 - P_MALE)
    for name in ("Young", "Smiling", "Wavy_Hair"):
        prob = prob * bern(*P_GIVEN_MALE[name], male, rows[:, _col(name)])
    prob = prob * bern(*P_EYEGLASSES_GIVEN_YOUNG, rows[:, _col("Young")], rows[:, _col("Eyeglasses")])
    black, blond = rows[:, _col("Black_Hair")], rows[:, _col("Blond_Hair")]
    p_black = male * P_GIVEN_MALE["Black_Hair"][0] + (1 - male) * P_GIVEN_MALE["Black_Hair"][1]
    p_blond = male * P_GIVEN_MALE["Blond_Hair"][0] + (1 - male) * P_GIVEN_MALE["Blond_Hair"][1]
    hair = torch.where(black * blond > 0, 0.0, torch.where(black > 0, p_black, torch.where(
        blond > 0, p_blond, 1 - p_black - p_blond)))
    return rows, prob * hair


def check_attributes(names: Any, where: str = "") -> None:
    """A one-line `ValueError` for names that are not attributes the faces are drawn from, or repeat
    (a recipe's error already says which key; ``where`` names the caller otherwise)."""
    unknown = [x for x in names if x not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"{where}unknown attribute {unknown[0]!r}; the faces dataset draws "
                         f"{', '.join(ATTRIBUTES)}: pick some of these (exact spelling)")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}attributes repeat in {list(names)}; name each once")


def attribute_probability(values: Mapping[str, int]) -> float:
    """The exact probability under the model that the named attributes take these 0/1 values (the
    others summed out), e.g. ``attribute_probability({"Male": 1, "Wavy_Hair": 1}) == 0.42 * 0.06``."""
    check_attributes(list(values), "attribute_probability: ")
    if any(x not in (0, 1) for x in values.values()):
        raise ValueError(f"attribute values must be 0 or 1, got {dict(values)}")
    rows, prob = joint_table()
    keep = torch.ones(len(rows), dtype=torch.bool)
    for name, x in values.items():
        keep &= rows[:, _col(name)] == x
    return float(prob[keep].sum())


def draw_attributes(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` rows ``(n, 7)`` of 0/1 floats over `ATTRIBUTES` drawn from the model."""
    u = torch.rand(n, 6, generator=generator)
    male = u[:, 0] < P_MALE

    def given_male(name: str) -> torch.Tensor:
        p1, p0 = P_GIVEN_MALE[name]
        return torch.where(male, p1, p0)

    young = u[:, 1] < given_male("Young")
    p_black, p_blond = given_male("Black_Hair"), given_male("Blond_Hair")
    out = torch.zeros(n, len(ATTRIBUTES))
    out[:, _col("Male")] = male.float()
    out[:, _col("Young")] = young.float()
    out[:, _col("Smiling")] = (u[:, 2] < given_male("Smiling")).float()
    out[:, _col("Wavy_Hair")] = (u[:, 3] < given_male("Wavy_Hair")).float()
    out[:, _col("Eyeglasses")] = (u[:, 4] < torch.where(young, *P_EYEGLASSES_GIVEN_YOUNG)).float()
    out[:, _col("Black_Hair")] = (u[:, 5] < p_black).float()
    out[:, _col("Blond_Hair")] = ((u[:, 5] >= p_black) & (u[:, 5] < p_black + p_blond)).float()
    return out


def _attributes(value: Any) -> tuple[str, ...]:
    """Converter: a name or names as a tuple; none (``[]``) means every attribute."""
    value = (value,) if isinstance(value, str) else tuple(value)
    return value or ATTRIBUTES


@frozen(kw_only=True)
class FacesSpec:
    """Procedural cartoon faces labelled with CelebA attribute names (synthetic, not CelebA); no download."""

    attributes: tuple[str, ...] = field(
        default=DEFAULT_ATTRIBUTES, converter=_attributes, validator=lambda _, __, x: check_attributes(x),
        metadata={"help": f"label columns, in this order, from: {', '.join(ATTRIBUTES)}; [] keeps all"})
    size: int = field(default=32, validator=[v.instance_of(int), v.ge(16), v.le(64)],
                      metadata={"help": "image side in pixels (16 to 64)"})
    train_size: int = field(default=4000, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "training images"})
    test_size: int = field(default=1000, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "test images"})
    dequantize: bool = field(default=True, validator=v.instance_of(bool),
                             metadata={"help": "IGEBM uniform dequantization (x + U(0,1)) / 256 of the training split"})

    @property
    def columns(self) -> list[int]:
        """Where each of ``attributes`` is among `ATTRIBUTES`."""
        return [ATTRIBUTES.index(a) for a in self.attributes]

    def build(self, ctx: Any) -> TensorData:
        generator, drawing = ctx.generator, FaceDrawing(size=self.size)
        splits = {}
        for split, n in (("train", self.train_size), ("test", self.test_size)):
            rows = draw_attributes(n, generator)
            splits[split] = (drawing.render(rows, Nuisance.draw(n, generator)), rows[:, self.columns].contiguous())
        (train, train_labels), (test, test_labels) = splits["train"], splits["test"]
        return TensorData(
            name="faces",
            **unit_splits(train, test, generator, self.dequantize),
            train_labels=train_labels,
            test_labels=test_labels,
            num_classes=len(self.attributes),
            class_names=self.attributes,
        )
