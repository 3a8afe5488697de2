"""The plugin's regularizer: ``class_contrast``, a cross-entropy over classes of ``-E(x, y)`` that makes a
conditional energy a classifier (and, over the classes in the batch only, a continual learner)."""

from energyflow_vision.regularizers.class_contrast import (
    ClassContrast,
    ClassContrastLoss,
)

__all__ = ["ClassContrast", "ClassContrastLoss"]
