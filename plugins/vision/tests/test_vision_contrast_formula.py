"""``class_contrast``'s loss against cross-entropy of ``-E(x, y) / T`` computed in closed form.

Guards against a wrong formula in `ClassContrastLoss.loss` (the sign of the logits, the
temperature, the weight, the re-indexing of targets with ``classes = "batch"``): with the sign
flipped the term raises the data's energy under its own class instead of lowering it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from energyflow_vision.regularizers import ClassContrast

import energyflow as ef
from energyflow.regularizers import CDBatch

NUM_CLASSES, DIM, WEIGHT, TEMPERATURE = 5, 3, 0.3, 0.5


class TableEnergy(ef.Energy):
    """E(x, y) = ||x - W[y]||^2, one learnable centre per class."""

    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(NUM_CLASSES, DIM, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((x - self.W[y.long()]) ** 2).sum(1)


def _setup(classes: str, labels: torch.Tensor):
    data = SimpleNamespace(num_classes=NUM_CLASSES, train_labels=torch.arange(NUM_CLASSES))
    term = ClassContrast(weight=WEIGHT, temperature=TEMPERATURE, classes=classes).build(SimpleNamespace(data=data))
    energy = TableEnergy()
    x = torch.randn(len(labels), DIM, generator=torch.Generator().manual_seed(1))
    return term, energy, x


def _loss(term, energy: TableEnergy, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    bound = energy.condition(y=labels)
    e = bound(x)
    return term.loss(CDBatch(energy=bound, x_pos=x, x_neg=x.detach(), e_pos=e, e_neg=e, sampler=None))


def _closed_form(energy: TableEnergy, x: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """weight * mean_i -log softmax(-E(x_i, c) / T)[y_i] over the considered classes, by hand."""
    w = energy.W.detach().double()
    energies = ((x.double()[:, None, :] - w[None, classes, :]) ** 2).sum(-1)  # (batch, len(classes))
    logits = -energies / TEMPERATURE
    target = torch.tensor([classes.index(int(c)) for c in labels])
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return WEIGHT * -log_p[torch.arange(len(labels)), target].mean()


@pytest.mark.parametrize(("classes", "labels"), [
    ("all", torch.tensor([0, 3, 1, 4, 2, 3])),
    ("batch", torch.tensor([4, 1, 4, 3, 1, 1])),  # classes 0 and 2 absent: targets re-indexed into [1, 3, 4]
])
def test_class_contrast_is_weighted_cross_entropy_of_minus_energy_over_temperature(classes, labels):
    term, energy, x = _setup(classes, labels)
    considered = list(range(NUM_CLASSES)) if classes == "all" else sorted(set(labels.tolist()))
    expected = _closed_form(energy, x, labels, considered)
    torch.testing.assert_close(_loss(term, energy, x, labels).double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("classes", ["all", "batch"])
def test_a_gradient_step_lowers_the_true_class_energy_relative_to_the_others(classes):
    labels = torch.tensor([4, 1, 4, 3, 1, 1])
    term, energy, x = _setup(classes, labels)
    considered = torch.tensor(list(range(NUM_CLASSES)) if classes == "all" else sorted(set(labels.tolist())))

    def margin() -> torch.Tensor:
        """Per sample: E(x, y_true) minus the mean energy under the other considered classes."""
        with torch.no_grad():
            energies = ((x[:, None, :] - energy.W[None, considered, :]) ** 2).sum(-1)
            own = (considered[None, :] == labels[:, None]).float()
            return (energies * own).sum(1) - (energies * (1 - own)).sum(1) / (len(considered) - 1)

    before = margin()
    _loss(term, energy, x, labels).backward()
    with torch.no_grad():
        energy.W -= 0.05 * energy.W.grad
    assert float(margin().mean()) < float(before.mean()), "the step raised E(x, y_true) relative to other classes"
