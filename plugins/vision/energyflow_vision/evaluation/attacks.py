"""Projected gradient descent (Madry et al. 2018) against any logits function, L-infinity or L2.

Each attack starts at a random point of the epsilon ball, takes ``steps`` steps of size
``step_ratio * epsilon / steps`` (L-infinity: along the gradient's sign; L2: along the gradient
scaled to unit norm), projects back onto the ball and the image range, and keeps, per image, the
first point found that is misclassified. Losses: cross-entropy, and the margin loss of Carlini &
Wagner (max over other classes of the logit minus the true logit), which does not saturate when
the softmax does; with both, an image counts as robust only if it survives both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-image loss the attack increases."""
    if loss == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return others.max(1).values - true


def _per_image(t: torch.Tensor) -> torch.Tensor:
    return rearrange(t, "b -> b 1 1 1") if t.dim() == 1 else t


def project(delta: torch.Tensor, norm: str, epsilon: float) -> torch.Tensor:
    """``delta`` projected onto the ``epsilon`` ball of ``norm``."""
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    size = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * _per_image((epsilon / size).clamp(max=1.0))


def random_start(x: torch.Tensor, norm: str, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the L-infinity ball, or a uniform direction at a uniform fraction of the L2 radius."""
    if norm == "linf":
        return (2 * torch.rand(x.shape, generator=generator) - 1).to(x.device) * epsilon
    direction = torch.randn(x.shape, generator=generator).to(x.device)
    direction = direction / _per_image(direction.flatten(1).norm(dim=1).clamp_min(1e-12))
    return direction * _per_image(torch.rand(x.shape[0], generator=generator).to(x.device)) * epsilon


def pgd(logits_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, labels: torch.Tensor, *, norm: str,
        epsilon: float, steps: int, generator: torch.Generator, value_range: tuple[float, float] = (0.0, 1.0),
        loss: str = "ce", step_ratio: float = 2.5, checkpoints: Sequence[int] = (),
        keep_first: bool = True) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Adversarial images for ``x``: the first misclassified point found, else the last one; with
    ``keep_first = False`` the last iterate always (the highest loss reached, what a transfer attack
    hands to another classifier: a barely misclassified point would flatter it).

    Returns:
        the adversarial images and, for each step count in ``checkpoints``, which images were
        already broken by then (to check that the attack has converged).
    """
    if norm not in NORMS:
        raise ValueError(f"pgd: norm must be one of {NORMS}, got {norm!r}")
    low, high = value_range
    best = x.clone()
    broken = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    history: dict[int, torch.Tensor] = {}
    if epsilon <= 0:
        with torch.no_grad():
            broken = logits_fn(x).argmax(1) != labels
        return best, {c: broken.clone() for c in checkpoints}
    step = step_ratio * epsilon / steps
    delta = project(random_start(x, norm, epsilon, generator), norm, epsilon)
    delta = (x + delta).clamp(low, high) - x
    for i in range(steps + 1):
        with torch.enable_grad():
            delta = delta.detach().requires_grad_(True)
            logits = logits_fn(x + delta)
            (grad,) = torch.autograd.grad(attack_loss(logits, labels, loss).sum(), delta)
        with torch.no_grad():
            wrong = (logits.argmax(1) != labels) & ~broken
            best[wrong] = (x + delta)[wrong]
            broken |= wrong
            if i in checkpoints:
                history[i] = broken.clone()
            if i == steps:
                break
            if norm == "linf":
                move = grad.sign()
            else:
                move = grad / _per_image(grad.flatten(1).norm(dim=1).clamp_min(1e-12))
            delta = project(delta + step * move, norm, epsilon)
            delta = (x + delta).clamp(low, high) - x
    keep = ~broken if keep_first else torch.ones_like(broken)
    best[keep] = (x + delta.detach())[keep]
    for c in checkpoints:
        history.setdefault(c, broken.clone())
    return best, history
