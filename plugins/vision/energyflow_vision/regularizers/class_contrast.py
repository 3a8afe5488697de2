"""``class_contrast``: a regularizer that contrasts a conditional energy across classes.

Each training step it adds ``weight * cross_entropy(-E(x+, .) / temperature, y)``: the data's energy under its
own class is pushed below its energy under the other classes, so ``argmin_y E(x, y)`` classifies
(the classification term of a hybrid model, as in JEM, Grathwohl et al. 2020). With
``classes = "batch"`` the softmax runs only over the classes present in the batch, so classes
absent from the data of the moment are never pushed up or down: the contrastive objective of
energy-based continual learning (Li, Du, van de Ven & Mordatch 2020). It rides on the core's
contrastive-divergence step (``[[regularizers]]``), so the update rule stays the trainer's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v

from energyflow import CDBatch, Conditioned, Regularizer
from energyflow_vision.evaluation.energy_classifier import energy_logits


class ClassContrastLoss(Regularizer):
    """The built regularizer: knows the number of classes and the context name of the labels."""

    def __init__(self, weight: float, classes: str, num_classes: int, temperature: float = 1.0, label_key: str = "y"):
        self.weight, self.classes, self.num_classes, self.label_key = weight, classes, num_classes, label_key
        self.temperature = temperature

    def loss(self, batch: CDBatch) -> torch.Tensor | None:
        energy = batch.energy
        if not self.weight or not isinstance(energy, Conditioned) or self.label_key not in energy.bound():
            return None  # an unconditional step has no classes to contrast
        labels = energy.bound()[self.label_key].long()
        present = labels.unique() if self.classes == "batch" else torch.arange(self.num_classes, device=labels.device)
        logits = energy_logits(energy.child, batch.x_pos, self.num_classes, present)
        return self.weight * F.cross_entropy(logits / self.temperature, torch.searchsorted(present, labels))


@frozen(kw_only=True)
class ClassContrast:
    """Cross-entropy of -E(x, y) over classes (all, or those in the batch) for class-conditional energies."""

    weight: float = field(default=1.0, converter=float, validator=v.ge(0.0),
                          metadata={"help": "coefficient of the cross-entropy term"})
    temperature: float = field(default=1.0, converter=float, validator=v.gt(0.0),
                               metadata={"help": "softmax temperature T of the logits -E(x, y) / T: the energy "
                                                 "difference that counts as a confident class (the CD loss keeps "
                                                 "energies small, so T well below 1 lets both terms act)"})
    classes: str = field(default="all", validator=v.in_(("all", "batch")),
                         metadata={"help": "softmax over all classes, or only those present in the batch "
                                           "(continual learning: absent classes are left alone)"})

    def build(self, ctx: Any) -> ClassContrastLoss:
        data = getattr(ctx, "data", None)
        if data is None or data.num_classes is None or data.train_labels is None \
                or data.train_labels.is_floating_point():
            raise ValueError("class_contrast needs a dataset with integer class labels (and energy.conditional = true)")
        return ClassContrastLoss(self.weight, self.classes, int(data.num_classes), self.temperature)
