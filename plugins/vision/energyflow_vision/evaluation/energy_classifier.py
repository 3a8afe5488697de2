"""The class-conditional energy as a classifier: logits ``-E(x, y)`` over the classes (IGEBM), any
logits scored in batches, and IGEBM's calibration (a temperature and per-class energy biases)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from einops import repeat

from energyflow import Energy, RunError, TaskContext, bind_labels

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
