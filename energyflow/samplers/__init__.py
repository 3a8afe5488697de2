"""MCMC samplers sharing one loop: IGEBM Langevin (and ULA), MALA and HMC; chain starts; the compiled fast path.

Each sampler supplies one transition; `Sampler.run` is the one loop. ``sampler.compiled(mode)``
evaluates the chains' energy and gradient through `torch.compile` where it pays (`FastPath`).
"""

from energyflow.samplers.base import Callback, ChainState, Sampler, SampleResult
from energyflow.samplers.fast_path import CompileMode, FastPath
from energyflow.samplers.hmc import HMC
from energyflow.samplers.langevin import Langevin
from energyflow.samplers.mala import MALA
from energyflow.samplers.starts import (
    bind_labels,
    takes_labels,
    to_device,
    uniform_starts,
)

__all__ = [
    "HMC", "MALA", "Callback", "ChainState", "CompileMode", "FastPath", "Langevin", "SampleResult", "Sampler",
    "bind_labels", "takes_labels", "to_device", "uniform_starts",
]
