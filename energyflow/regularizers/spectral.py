"""Spectral normalisation of every convolution and linear layer except the energy head."""

from __future__ import annotations

from attrs import frozen
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from energyflow.core.energy import Energy
from energyflow.regularizers.base import Regularizer

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


@frozen(kw_only=True)
class SpectralNorm(Regularizer):
    """Wraps layers with ``torch.nn.utils.parametrizations.spectral_norm`` (IGEBM: all but the head).

    A module named ``head`` (and anything inside it) is left alone, so the energy's output scale
    stays free. Applying it twice changes nothing.
    """

    def prepare(self, energy: Energy) -> Energy:
        for name, module in list(energy.named_modules()):
            if "head" in name.split(".") or not isinstance(module, _LAYERS):
                continue
            if not parametrize.is_parametrized(module, "weight"):
                spectral_norm(module)
        return energy
