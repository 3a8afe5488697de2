"""Toy 2-D densities (FFJORD-style), with exact log-densities where they have a closed form.

All densities live roughly inside ``[-4, 4]^2``:

- ``8gaussians``: eight isotropic Gaussians (std 0.5/sqrt(2)) on a circle of radius 2*sqrt(2).
- ``rings``: four concentric circles (radii 0.75, 1.5, 2.25, 3; equal weights, uniform angle)
  blurred by isotropic Gaussian noise of std 0.08.
- ``2spirals``: two interleaved spirals; its density is a one-dimensional integral along the arm,
  computed by quadrature (2048 nodes: within about 0.001 nats of 8192).
- ``checkerboard``: uniform on the 8 dark squares of a 4x4 board on ``[-4, 4)^2``.
- ``moons``: two interleaved half circles with Gaussian noise; density by quadrature too.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.data.dataset import TensorData

TOY_DENSITIES: tuple[str, ...] = ("8gaussians", "rings", "2spirals", "checkerboard", "moons")

_GAUSS_RADIUS = 2.0 * math.sqrt(2.0)
_GAUSS_STD = 0.5 / math.sqrt(2.0)
_RING_RADII = (0.75, 1.5, 2.25, 3.0)
_RING_STD = 0.08
_CHECKER_LOG_DENSITY = -math.log(32.0)  # 8 squares of area 4

LogProb = Callable[[torch.Tensor], torch.Tensor]


def check_density_name(name: str) -> str:
    """Return ``name`` if it is a toy density, else raise ``ValueError`` with a suggestion."""
    if name in TOY_DENSITIES:
        return name
    close = difflib.get_close_matches(str(name), TOY_DENSITIES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown toy density {name!r}; valid names: {', '.join(TOY_DENSITIES)}{hint}")


def _uniform(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g)


def _normal(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=g)


def _gauss_centers() -> torch.Tensor:
    angles = torch.arange(8) * (2 * math.pi / 8)
    return _GAUSS_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def _sample_8gaussians(n: int, g: torch.Generator) -> torch.Tensor:
    k = torch.randint(0, 8, (n,), generator=g)
    return _gauss_centers()[k] + _GAUSS_STD * _normal((n, 2), g)


def _sample_rings(n: int, g: torch.Generator) -> torch.Tensor:
    radii = torch.tensor(_RING_RADII)[torch.randint(0, len(_RING_RADII), (n,), generator=g)]
    theta = 2 * math.pi * _uniform(n, g)
    circle = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return radii[:, None] * circle + _RING_STD * _normal((n, 2), g)


def _sample_2spirals(n: int, g: torch.Generator) -> torch.Tensor:
    t = torch.sqrt(_uniform(n, g)) * (3 * math.pi)
    arm = torch.stack([-torch.cos(t) * t, torch.sin(t) * t], dim=1) + 0.5 * torch.rand((n, 2), generator=g)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    return sign[:, None] * arm / 3 + 0.1 * _normal((n, 2), g)


def _sample_checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) - 2 * torch.randint(0, 2, (n,), generator=g) + torch.floor(x1) % 2
    return 2 * torch.stack([x1, x2], dim=1)


def _sample_moons(n: int, g: torch.Generator) -> torch.Tensor:
    t = math.pi * _uniform(n, g)
    outer = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    inner = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    upper = (torch.rand(n, generator=g) < 0.5)[:, None]
    moon = torch.where(upper, outer, inner)
    return 2 * (moon - torch.tensor([0.5, 0.25])) + 0.1 * _normal((n, 2), g)


_SAMPLERS: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "8gaussians": _sample_8gaussians,
    "rings": _sample_rings,
    "2spirals": _sample_2spirals,
    "checkerboard": _sample_checkerboard,
    "moons": _sample_moons,
}


def sample_toy(name: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``n`` points ``(n, 2)`` (float32, CPU) from a toy density, using only ``generator``."""
    check_density_name(name)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"sample_toy: n must be a non-negative integer, got {n!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"sample_toy: expected a torch.Generator, got {type(generator).__name__}")
    return _SAMPLERS[name](n, generator).to(torch.float32)


def _log_prob_8gaussians(x: torch.Tensor) -> torch.Tensor:
    centers = _gauss_centers().to(x.device, x.dtype)
    sq = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    log_norm = math.log(8) + math.log(2 * math.pi * _GAUSS_STD**2)
    return torch.logsumexp(-sq / (2 * _GAUSS_STD**2), dim=1) - log_norm


def _log_prob_rings(x: torch.Tensor) -> torch.Tensor:
    # Uniform angle on a circle of radius r convolved with N(0, s^2 I):
    # p(x) = exp(-(|x|^2 + r^2) / (2 s^2)) I0(|x| r / s^2) / (2 pi s^2); I0(z) = i0e(z) e^z.
    s2 = _RING_STD**2
    rho = x.norm(dim=1, keepdim=True)
    r = torch.tensor(_RING_RADII, device=x.device, dtype=x.dtype)
    per_ring = -((rho - r) ** 2) / (2 * s2) + torch.log(torch.special.i0e(rho * r / s2))
    log_norm = math.log(len(_RING_RADII)) + math.log(2 * math.pi * s2)
    return torch.logsumexp(per_ring, dim=1) - log_norm


def _log_prob_checkerboard(x: torch.Tensor) -> torch.Tensor:
    # Support is the closed union of dark squares: float32 rounding in sampling can land points
    # exactly on an edge, so a point on an edge counts if either neighbouring square is dark.
    q = x / 2
    lo = torch.floor(q)
    cells = (lo, torch.where(q == lo, lo - 1, lo))  # the square left of / below an edge too
    dark = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for a in cells:
        for b in cells:
            i, j = a[:, 0], b[:, 1]
            on_board = (i >= -2) & (i <= 1) & (j >= -2) & (j <= 1)
            dark |= on_board & (torch.remainder(i + j, 2) == 0)
    inside = torch.full_like(x[:, 0], _CHECKER_LOG_DENSITY)
    return torch.where(dark, inside, -math.inf)


def _along_curve(x: torch.Tensor, t: torch.Tensor, weight: torch.Tensor, density: Callable[..., torch.Tensor],
                 chunk: int = 512) -> torch.Tensor:
    """log of sum_k weight_k * density(x, t_k): a midpoint-rule integral over the curve parameter, in float64."""
    out = []
    log_w = weight.log()
    for rows in x.to(torch.float64).split(chunk):
        out.append(torch.logsumexp(density(rows[:, None, :], t[None, :]) + log_w, dim=1))
    return torch.cat(out).to(x.dtype) if out else x.new_zeros(0)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def _log_prob_2spirals(x: torch.Tensor, nodes: int = 2048) -> torch.Tensor:
    # t = 3 pi sqrt(u): p(t) = 2 t / (3 pi)^2 on [0, 3 pi]. Given t and the arm's sign s, each
    # coordinate is s (a_i(t) + U[0, 0.5]) / 3 + N(0, 0.1^2): a box of width 1/6 blurred by the noise,
    # density 6 [Phi((x - lo) / 0.1) - Phi((x - hi) / 0.1)].
    end = 3 * math.pi
    t = (torch.arange(nodes, dtype=torch.float64) + 0.5) * (end / nodes)
    weight = 2 * t / end**2 * (end / nodes)
    arm = torch.stack([-torch.cos(t) * t, torch.sin(t) * t], dim=-1) / 3

    def density(rows: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        total = 0
        for sign in (1.0, -1.0):
            lo = sign * arm + min(0.0, sign / 6)  # s (a + u) / 3 with u in [0, 0.5] spans [lo, lo + 1/6]
            per_axis = 6 * (_normal_cdf((rows - lo) / 0.1) - _normal_cdf((rows - lo - 1 / 6) / 0.1))
            total = total + 0.5 * per_axis.prod(-1)
        return total.clamp_min(1e-300).log()

    return _along_curve(x.to(torch.float64), t, weight, density).to(x.dtype)


def _log_prob_moons(x: torch.Tensor, nodes: int = 2048) -> torch.Tensor:
    # t ~ U[0, pi]; each moon with probability 1/2; x = 2 (moon(t) - (0.5, 0.25)) + N(0, 0.1^2 I).
    t = (torch.arange(nodes, dtype=torch.float64) + 0.5) * (math.pi / nodes)
    weight = torch.full_like(t, 1 / nodes)
    shift = torch.tensor([0.5, 0.25], dtype=torch.float64)
    outer = 2 * (torch.stack([torch.cos(t), torch.sin(t)], -1) - shift)
    inner = 2 * (torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], -1) - shift)
    log_norm = math.log(2 * math.pi * 0.01)

    def density(rows: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        per_moon = [-((rows - m) ** 2).sum(-1) / 0.02 - log_norm for m in (outer, inner)]
        return torch.logaddexp(*per_moon) - math.log(2)

    return _along_curve(x.to(torch.float64), t, weight, density).to(x.dtype)


_LOG_PROBS: dict[str, LogProb] = {
    "8gaussians": _log_prob_8gaussians,
    "rings": _log_prob_rings,
    "2spirals": _log_prob_2spirals,
    "checkerboard": _log_prob_checkerboard,
    "moons": _log_prob_moons,
}


def toy_log_prob(name: str) -> LogProb | None:
    """The exact normalised log-density ``(n, 2) -> (n,)`` of a toy, or ``None`` if it has none."""
    return _LOG_PROBS.get(check_density_name(name))


def _density_name(instance: Any, attribute: Any, value: Any) -> None:
    check_density_name(value)


@frozen(kw_only=True)
class Toy2DSpec:
    """Recipe spec for ``kind = "toy2d"``: points drawn from a toy 2-D density."""

    density: str = field(
        default="8gaussians",
        validator=[v.instance_of(str), _density_name],
        metadata={"help": f"Which density: one of {', '.join(TOY_DENSITIES)}."},
    )
    n_train: int = field(
        default=20000,
        validator=[v.instance_of(int), v.gt(0)],
        metadata={"help": "Number of training points."},
    )
    n_test: int = field(
        default=5000,
        validator=[v.instance_of(int), v.gt(0)],
        metadata={"help": "Number of held-out test points."},
    )

    def build(self, ctx: Any) -> TensorData:
        """Draw the train and test sets with ``ctx.generator``."""
        return TensorData(
            name="toy2d",
            train=sample_toy(self.density, self.n_train, ctx.generator),
            test=sample_toy(self.density, self.n_test, ctx.generator),
            value_range=(-4.0, 4.0),
            kind="points",
            log_prob=toy_log_prob(self.density),
        )
