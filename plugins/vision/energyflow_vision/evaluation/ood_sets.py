"""The out-of-distribution sets of the ``ood`` task: dataset tables and generated images.

A dataset table in the recipe (``[task.sets.svhn] kind = "image_folder" ...``) names any
registered dataset; it is validated when the recipe is, and built at run time in the model's
shape: its ``size`` and ``channels`` options, where it has them and leaves them unset, are set to
the in-distribution images' (so a 32x32 colour set is scored by an 8x8 grey model, and back),
anything else still differing is resized and channel-converted as floats. Generated sets are made
from the in-distribution test images, as IGEBM makes them.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F

from energyflow import BuildContext, RecipeError
from energyflow.recipe import Component, component_table
from energyflow_vision.data.arrays import convert_channels, resize_images

#: Generated sets: uniform noise, one grey level (per channel), 1 - x, (x + x') / 2 of two test
#: images, and test images brought down to ``resolution`` pixels and back up.
GENERATED = ("noise", "constant", "inverted", "interpolation", "resolution")


def _component(name: str, table: Any) -> Component:
    if not isinstance(table, dict) or not isinstance(table.get("kind"), str):
        raise TypeError(f"sets.{name}: expected a dataset table with kind = \"<dataset>\" and its options, "
                         f"got {table!r}")
    try:
        return component_table(f"sets.{name}", table, "dataset")
    except RecipeError as e:
        raise ValueError(str(e)) from e


def dataset_tables(value: Any) -> dict[str, dict[str, Any]]:
    """Converter of the ``sets`` option: each table checked against its dataset's spec, defaults filled in."""
    if not isinstance(value, dict):
        raise TypeError(f"sets: expected a table of dataset tables, got {value!r}")
    out = {}
    for name, table in value.items():
        if name in GENERATED:
            raise ValueError(f"sets.{name}: {name!r} is a generated set; give the dataset table another name")
        dataset = _component(name, table)
        out[name] = {"kind": dataset.kind, **dataset.options()}
    return out


def generated_names(value: Any) -> tuple[str, ...]:
    """Converter of the ``generated`` option: a tuple of known generated-set names."""
    names = tuple(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"generated: expected a list of names ({', '.join(GENERATED)}), got {value!r}")
    unknown = [n for n in names if n not in GENERATED]
    if unknown:
        raise ValueError(f"generated: unknown set {unknown[0]!r}; known: {', '.join(GENERATED)}")
    return names


def to_shape(images: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Float images ``(N, C, H, W)`` resized (bilinear, antialiased) and channel-converted to ``shape``."""
    channels, height, width = shape
    return convert_channels(resize_images(images, (height, width)), channels).contiguous()


def build_set(name: str, table: dict[str, Any], shape: tuple[int, ...], n: int, generator: torch.Generator,
              log=lambda message: None) -> torch.Tensor:
    """Up to ``n`` images of a dataset table (test split first, then training), in the model's ``shape``."""
    spec = _component(name, table).spec
    fields = attrs.fields_dict(type(spec)) if attrs.has(type(spec)) else {}
    wanted = {"size": tuple(shape[1:]), "channels": shape[0], "limit": n, "test_limit": n, "dequantize": False}
    changes = {key: value for key, value in wanted.items()
               if key in fields and (key == "dequantize" or getattr(spec, key) is None)}
    data = attrs.evolve(spec, **changes).build(BuildContext(generator=generator))
    images = torch.cat([data.test, data.train])[:n].float()
    if tuple(images.shape[1:]) != tuple(shape):
        log(f"set {name}: {tuple(images.shape[1:])} images brought to {tuple(shape)}")
        images = to_shape(images, shape)
    return images


def generate(name: str, test: torch.Tensor, value_range: tuple[float, float], generator: torch.Generator,
             resolution: int) -> torch.Tensor:
    """A generated set shaped like ``test`` (see `GENERATED`)."""
    low, high = value_range
    n = test.shape[0]
    if name == "noise":
        return low + (high - low) * torch.rand(test.shape, generator=generator)
    if name == "constant":
        level = low + (high - low) * torch.rand((n, test.shape[1], 1, 1), generator=generator)
        return level.expand_as(test).clone()
    if name == "inverted":
        return low + high - test
    if name == "interpolation":  # two different test images each (a random cycle pairs them)
        order = torch.randperm(n, generator=generator)
        return (test[order] + test[order.roll(1)]) / 2
    if name == "resolution":
        small = F.interpolate(test, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        up = F.interpolate(small, size=tuple(test.shape[-2:]), mode="bilinear", align_corners=False)
        return up.clamp(low, high)
    raise ValueError(f"unknown generated set {name!r}; known: {', '.join(GENERATED)}")
