"""The energyflow plugin module of energyflow-vision, named by its ``energyflow`` entry point.

Registration hooks import what they register, so reading one registry (say, the datasets) never
imports the networks or the tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energyflow import hookimpl

if TYPE_CHECKING:
    from energyflow import Register


def _register_table(register: Register, table: dict) -> None:
    for name, (factory, aliases) in table.items():
        register(name, factory, aliases=aliases)


@hookimpl
def register_energies(register: Register) -> None:
    """IGEBM image energies: resnet32, resnet32_large, resnet32_wider, resnet128, mnist_net."""
    from energyflow_vision.nets.specs import ENERGIES

    _register_table(register, ENERGIES)


@hookimpl
def register_samplers(register: Register) -> None:
    """augmented_langevin: Langevin with data-augmentation transitions (improved CD)."""
    from energyflow_vision.samplers import AugmentedLangevin

    register("augmented_langevin", AugmentedLangevin)


@hookimpl
def register_regularizers(register: Register) -> None:
    """class_contrast: cross-entropy of -E(x, y) over classes, for conditional energies."""
    from energyflow_vision.regularizers import ClassContrast

    register("class_contrast", ClassContrast)


@hookimpl
def register_datasets(register: Register) -> None:
    """Image datasets: digits, mnist, fashion_mnist, cifar10, cifar100, svhn, celeba, imagenet32, image_folder,
    shapes, faces."""
    from energyflow_vision.data import DATASETS

    _register_table(register, DATASETS)


@hookimpl
def register_tasks(register: Register) -> None:
    """Image tasks: generate_images, inpaint, denoise, cross_class, ood, classify, robust, continual."""
    from energyflow_vision.tasks import TASKS

    _register_table(register, TASKS)
