"""The softmax baseline the generalization tasks compare the energy classifier with.

It is a softmax classifier of the same architecture: the recipe's ``[energy]`` network built
afresh (unconditional), whose scalar ``head`` is ignored and whose head's input features feed a
new ``K``-way linear layer. It is trained with cross-entropy on the same training split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from energyflow import Energy, RunError, TaskContext


class SoftmaxClassifier(nn.Module):
    """A network of the energy's architecture with a ``K``-way linear layer on its head's input.

    Args:
        network: an energy network with a linear ``head`` (every vision energy has one); its
            scalar output is computed and ignored.
        num_classes: outputs ``K``.
    """

    def __init__(self, network: Energy, num_classes: int):
        super().__init__()
        head = getattr(network, "head", None)
        if not isinstance(head, nn.Linear):
            raise RunError(f"the softmax baseline reads the features entering the energy's linear 'head', but "
                           f"{type(network).__name__} has no such layer")
        self.network = network
        self.out = nn.Linear(head.in_features, num_classes)
        self._features: list[torch.Tensor] = []
        head.register_forward_hook(lambda module, inputs, output: self._features.append(inputs[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._features.clear()
        self.network(x)
        return self.out(self._features.pop())


def softmax_classifier(ctx: TaskContext, num_classes: int, seed_offset: int = 1) -> SoftmaxClassifier:
    """A fresh `SoftmaxClassifier` on the recipe's ``[energy]`` network, built unconditional.

    Its initial weights come from the run's seed plus ``seed_offset``, whatever ran before.
    """
    spec = ctx.recipe.energy.spec
    if attrs.has(type(spec)) and "conditional" in attrs.fields_dict(type(spec)):
        spec = attrs.evolve(spec, conditional=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.recipe.run.seed + seed_offset)
        network = ctx.build(spec, what="[energy] (softmax baseline)")
        return SoftmaxClassifier(network, num_classes).to(ctx.device)


def trained_softmax(ctx: TaskContext, num_classes: int, *, steps: int, lr: float) -> SoftmaxClassifier:
    """The baseline of the generalization tasks: a fresh `softmax_classifier` trained ``steps`` Adam steps
    on the run's training split, at the recipe's batch size, as a progress phase."""
    model = softmax_classifier(ctx, num_classes)
    with ctx.phase("softmax baseline", steps) as advance:
        fit_softmax(model, ctx.data.train, ctx.data.train_labels, steps=steps, batch_size=ctx.recipe.train.batch_size,
                    lr=lr, generator=ctx.generator, device=ctx.device, advance=advance)
    return model


def fit_softmax(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float,
                generator: torch.Generator, device: torch.device, advance: Callable[[int], None] = lambda n: None,
                penalty: Callable[[], torch.Tensor] | None = None,
                classes: Sequence[int] | None = None, weight_decay: float = 0.0) -> nn.Module:
    """Train ``model`` with cross-entropy (Adam) on ``x``, ``y``.

    Args:
        penalty: an extra loss term (EWC) added every step.
        classes: restrict the softmax to these outputs (labels are indices into the full set).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    keep = None if classes is None else torch.as_tensor(sorted(classes), device=device)
    for _ in range(steps):
        idx = torch.randint(x.shape[0], (min(batch_size, x.shape[0]),), generator=generator)
        xb, yb = x[idx].to(device), y[idx].to(device)
        logits = model(xb)
        if keep is not None:
            logits = logits[:, keep]
            yb = torch.searchsorted(keep, yb)
        loss = F.cross_entropy(logits, yb)
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        advance(1)
    return model.eval()
