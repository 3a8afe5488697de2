"""`MLPEnergy`: a multilayer perceptron energy for vectors, optionally class-conditional."""

from __future__ import annotations

from typing import Any

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange
from torch import nn

from energyflow.core.energy import Energy


class MLPEnergy(Energy):
    """E(x) = head(MLP(x)): SiLU layers and a scalar linear head.

    Inputs ``(batch, ...)`` are flattened to ``(batch, in_features)``. With ``num_classes`` the
    energy is conditional: a learned class embedding is concatenated to the input. ``y`` is
    either integer labels ``(batch,)`` or float attribute / soft-label vectors
    ``(batch, num_classes)``, which mix the embeddings linearly (a one-hot vector equals its label).

    The output layer is ``self.head``; the spectral-norm regularizer leaves it unnormalised so
    the energy's scale stays free.

    Args:
        in_features: number of input features (the product of the sample shape).
        hidden: widths of the hidden layers, at least one.
        num_classes: number of classes (or attributes) to condition on; ``None`` for none.
        embed_dim: width of the class embedding when conditional.
    """

    def __init__(
        self,
        in_features: int,
        hidden: tuple[int, ...] | list[int] = (128, 128),
        num_classes: int | None = None,
        embed_dim: int = 32,
    ):
        super().__init__()
        hidden = tuple(hidden)
        if in_features < 1:
            raise ValueError(f"MLPEnergy: in_features must be >= 1, got {in_features}")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ValueError(f"MLPEnergy: hidden must be one or more positive widths, got {hidden}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"MLPEnergy: num_classes must be >= 1 or None, got {num_classes}")
        self.in_features = int(in_features)
        self.hidden = hidden
        self.num_classes = num_classes
        self.context_keys = ("y",) if num_classes is not None else ()
        width = self.in_features
        if num_classes is not None:
            self.embedding = nn.Embedding(num_classes, embed_dim)
            width += embed_dim
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = rearrange(x, "b ... -> b (...)")
        if h.shape[1] != self.in_features:
            raise ValueError(
                f"MLPEnergy: expected {self.in_features} features per sample, got input of shape "
                f"{tuple(x.shape)} ({h.shape[1]} features)"
            )
        if self.num_classes is not None:
            if y is None:
                raise TypeError(
                    f"MLPEnergy is class-conditional (num_classes={self.num_classes}): pass y=labels, "
                    "or bind it with energy.condition(y=...)"
                )
            h = torch.cat([h, self._embed(y, h)], dim=1)
        return rearrange(self.head(self.body(h)), "b 1 -> b")

    def _embed(self, y: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(y, device=h.device)
        batch = h.shape[0]
        if not y.is_floating_point() and y.shape == (batch,):
            return self.embedding(y.long())
        if y.is_floating_point() and y.shape == (batch, self.num_classes):
            return y.to(h.dtype) @ self.embedding.weight
        raise ValueError(
            f"MLPEnergy: expected y to be integer labels of shape ({batch},) or float vectors of "
            f"shape ({batch}, {self.num_classes}), got {y.dtype} of shape {tuple(y.shape)}"
        )

    def extra_repr(self) -> str:
        cond = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        return f"{self.in_features}->{'x'.join(map(str, self.hidden))}{cond}"


@frozen(kw_only=True)
class MLPEnergySpec:
    """Recipe spec for ``kind = "mlp"``: an MLP energy sized from the dataset."""

    hidden: tuple[int, ...] = field(
        default=(128, 128),
        converter=tuple,
        validator=[v.min_len(1), v.deep_iterable(v.and_(v.instance_of(int), v.not_(v.instance_of(bool)), v.ge(1)))],
        metadata={"help": "Widths of the hidden SiLU layers, e.g. [128, 128]."},
    )
    conditional: bool = field(
        default=False,
        validator=v.instance_of(bool),
        metadata={"help": "Condition on the dataset's class labels (y) with a learned embedding."},
    )

    def build(self, ctx: Any) -> MLPEnergy:
        """An `MLPEnergy` for ``ctx.data``'s features (and classes when conditional)."""
        data = ctx.data
        if data is None:
            raise ValueError("mlp energy: needs the built dataset (ctx.data is None)")
        if self.conditional and data.num_classes is None:
            raise ValueError(
                f"mlp energy: conditional = true, but dataset {data.name!r} has no class labels; "
                "set conditional = false or use a labelled dataset"
            )
        num_classes = data.num_classes if self.conditional else None
        energy = MLPEnergy(in_features=data.num_features, hidden=self.hidden, num_classes=num_classes)
        return energy.to(ctx.device)
