"""Spectral normalisation of every convolution and linear layer except the energy head."""

from __future__ import annotations

import torch
from attrs import field, frozen
from attrs import validators as v
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from energyflow.core.energy import Energy
from energyflow.regularizers.base import Regularizer

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


class _ShrinkOnly(nn.Module):
    """Parametrization W / max(sigma(W), 1): caps the spectral norm at 1 without scaling small weights up."""

    def __init__(self, normalise: nn.Module):
        super().__init__()
        self.normalise = normalise  # torch's W / sigma(W), with its power-iteration state

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        unit = self.normalise(weight)
        sigma = weight.norm() / unit.norm().clamp_min(1e-12)
        return weight / sigma.clamp_min(1.0)


@frozen(kw_only=True)
class SpectralNorm(Regularizer):
    """Wraps layers with ``torch.nn.utils.parametrizations.spectral_norm`` (IGEBM: all but the head).

    A module named ``head`` (and anything inside it) is left alone, so the energy's output scale
    stays free. Applying it twice changes nothing. With ``shrink_only`` a layer is divided by
    ``max(sigma, 1)`` instead of ``sigma``: the norm is capped at 1 but never raised, so layers
    initialised near zero (residual second convolutions) stay near zero.
    """

    shrink_only: bool = field(default=False, validator=v.instance_of(bool),
                              metadata={"help": "divide by max(sigma, 1): cap the norm, never scale small weights up"})

    def prepare(self, energy: Energy) -> Energy:
        for name, module in list(energy.named_modules()):
            if "head" in name.split(".") or not isinstance(module, _LAYERS):
                continue
            if not parametrize.is_parametrized(module, "weight"):
                spectral_norm(module)
                if self.shrink_only:
                    plain = module.parametrizations.weight[0]
                    module.parametrizations.weight[0] = _ShrinkOnly(plain)
        return energy
