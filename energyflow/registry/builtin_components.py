"""The core's own components, registered through the same hooks a third-party plugin uses.

Each hook imports what it registers, so reading one registry never imports the others.
"""

from __future__ import annotations

from energyflow.registry.hookspecs import Register, hookimpl


@hookimpl
def register_energies(register: Register) -> None:
    from energyflow.models import MLPEnergySpec

    register("mlp", MLPEnergySpec, description="multilayer perceptron energy for vectors (optionally conditional)")


@hookimpl
def register_samplers(register: Register) -> None:
    from energyflow.samplers import HMC, MALA, Langevin

    register("langevin", Langevin, aliases=("sgld",), description='IGEBM Langevin dynamics (ULA with noise = "ula")')
    register("mala", MALA, description="Metropolis-adjusted Langevin")
    register("hmc", HMC, description="Hamiltonian Monte Carlo")


@hookimpl
def register_buffers(register: Register) -> None:
    from energyflow.buffers import ReplayBufferSpec

    register("replay", ReplayBufferSpec, description="replay buffer of past chain states (FIFO or reservoir)")


@hookimpl
def register_regularizers(register: Register) -> None:
    from energyflow.regularizers import (
        EntropyTerm,
        GradPenalty,
        KLTerm,
        L2Energy,
        SpectralNorm,
    )

    register("l2_energy", L2Energy, description="penalise squared energies of data and samples")
    register("spectral_norm", SpectralNorm, description="spectral normalisation of every layer but the head")
    register("grad_penalty", GradPenalty, description="penalise the squared input-gradient norm")
    register("kl", KLTerm, description="KL term through the last sampler step (Du et al. 2021)")
    register("entropy", EntropyTerm, aliases=("repel",),
             description="nearest-neighbour entropy of the sampler step against buffer states (Du et al. 2021)")


@hookimpl
def register_objectives(register: Register) -> None:
    from energyflow.training.objectives import (
        ContrastiveSpec,
        DenoisingScoreMatching,
        NoiseContrastiveEstimation,
        SlicedScoreMatching,
    )

    register("cd", ContrastiveSpec, aliases=("contrastive_divergence",),
             description="contrastive divergence with Langevin negatives from a replay buffer (IGEBM)")
    register("dsm", DenoisingScoreMatching, description="denoising score matching, one noise level or several")
    register("ssm", SlicedScoreMatching, description="sliced score matching (variance-reduced by default)")
    register("nce", NoiseContrastiveEstimation,
             description="noise-contrastive estimation against a Gaussian fitted to the data, learnt log-normaliser")


@hookimpl
def register_datasets(register: Register) -> None:
    from energyflow.data.toy2d import Toy2DSpec

    register("toy2d", Toy2DSpec, description="toy 2-D densities (8gaussians, rings, 2spirals, checkerboard, moons)")


@hookimpl
def register_tasks(register: Register) -> None:
    from energyflow.tasks.ais import AISTask
    from energyflow.tasks.compose import ComposeTask
    from energyflow.tasks.generate import GenerateTask
    from energyflow.tasks.sample import SampleTask

    register("generate", GenerateTask)
    register("sample", SampleTask)
    register("compose", ComposeTask, description="sample concept expressions over named energies from noise")
    register("ais", AISTask, description="bound the test log-likelihood by forward AIS and RAISE (reverse AIS)")
