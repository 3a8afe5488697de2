"""The plugin's sampler: ``augmented_langevin``, IGEBM Langevin whose chains also jump by data augmentation
(improved contrastive divergence), and `ImageAugment`, the batched, seeded augmentations it applies."""

from energyflow_vision.samplers.augmented_langevin import AugmentedLangevin
from energyflow_vision.samplers.image_augment import ImageAugment

__all__ = ["AugmentedLangevin", "ImageAugment"]
