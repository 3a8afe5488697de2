"""Classifiers the generalization tasks compare: the conditional energy and a softmax baseline.

The energy classifier's logits are ``-E(x, y)`` over the classes ``y`` (IGEBM). The baseline is
a softmax classifier of the same architecture: the recipe's ``[energy]`` network built afresh
(unconditional), whose scalar ``head`` is ignored and whose head's input features feed a new
``K``-way linear layer. It is trained with cross-entropy on the same training split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from einops import repeat
from torch import nn

from energyflow.chains import bind_labels
from energyflow.components import BuildContext
from energyflow.core.energy import Energy
from energyflow.tasks.context import RunError, TaskContext

Logits = Callable[[torch.Tensor], torch.Tensor]


def energy_logits(energy: Energy, x: torch.Tensor, num_classes: int,
                  classes: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """``-E(x, y)`` for every ``y`` in ``classes`` (default: all), shape ``(batch, len(classes))``.

    Differentiable in ``x`` and the parameters; call it under ``torch.no_grad()`` to score only.
    """
    classes = torch.arange(num_classes) if classes is None else torch.as_tensor(classes)
    k = classes.numel()
    labels = repeat(classes.to(x.device), "k -> (b k)", b=x.shape[0])
    values = bind_labels(energy, labels)(repeat(x, "b ... -> (b k) ...", k=k))
    return -values.view(x.shape[0], k)


@torch.no_grad()
def batched(fn: Logits, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """``fn`` over ``x`` in batches on ``device``; the results concatenated on the CPU."""
    return torch.cat([fn(chunk.to(device)).cpu() for chunk in x.split(batch_size)]) if len(x) else x[:0]


def accuracy(fn: Logits, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch_size: int = 256) -> float:
    """Share of ``x`` whose highest logit is its label."""
    return float((batched(fn, x, device, batch_size).argmax(1) == y).float().mean())


def require_classes(ctx: TaskContext, task: str) -> int:
    """The number of classes of a class-conditional run; a `RunError` otherwise."""
    data = ctx.data
    if not ctx.conditional or data.train_labels is None or data.train_labels.is_floating_point():
        raise RunError(f"task {task} needs a class-conditional energy: set energy.conditional = true on a dataset "
                       "with class labels")
    return int(data.num_classes)


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
        network = spec.build(BuildContext(device=ctx.device, data=ctx.data, seed=ctx.recipe.run.seed))
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


def calibrate(logits: torch.Tensor, labels: torch.Tensor, steps: int = 100) -> tuple[float, torch.Tensor]:
    """A temperature and per-class biases so that ``logits / T + b`` fits ``labels`` (cross-entropy, LBFGS).

    IGEBM learns such a per-class energy bias before classifying; the temperature only rescales
    the energies (the generative loss leaves their scale arbitrary), so neither changes which
    class has the lowest energy unless the biases do.
    """
    log_t = torch.zeros((), requires_grad=True)
    bias = torch.zeros(logits.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t, bias], max_iter=steps, line_search_fn="strong_wolfe")
    scaled = logits.detach().double()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(scaled / log_t.double().exp() + bias.double(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp()), bias.detach().float()


def calibrated(fn: Logits, temperature: float, bias: torch.Tensor) -> Logits:
    """``fn(x) / temperature + bias``."""
    return lambda x: fn(x) / temperature + bias.to(x.device)


def describe(value: Any) -> str:
    """A number as a short key fragment: ``0.1`` -> ``0.1``, ``2.0`` -> ``2``."""
    return f"{value:g}"
