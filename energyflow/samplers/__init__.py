"""MCMC samplers sharing one loop: IGEBM Langevin (and ULA), MALA and HMC."""

from energyflow.samplers.base import ChainState, Sampler, SampleResult
from energyflow.samplers.hmc import HMC
from energyflow.samplers.langevin import Langevin
from energyflow.samplers.mala import MALA

__all__ = ["HMC", "MALA", "ChainState", "Langevin", "SampleResult", "Sampler"]
