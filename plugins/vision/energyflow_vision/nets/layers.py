"""Building blocks of the IGEBM image energies: conditional convolutions and residual blocks.

Conditioning follows Du & Mordatch (2019): every convolution inside a residual block adds a
learned per-channel bias to its input and the block's second convolution multiplies its output
by a learned per-channel gain, both chosen by the condition. A condition is a matrix ``c`` of
shape ``(batch, K)``: the one-hot class (``K`` classes) or an attribute vector (``K``
attributes); bias ``= c @ B`` and gain ``= 1 + c @ G``. An unconditional network has a single
learned row (``K = 1``, ``c`` all ones).

The gain and bias are plain parameters, not ``nn.Linear`` layers, so the spectral-norm
regularizer (which wraps every convolution and linear layer except the ``head``) leaves them
alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

#: Activations by recipe name. IGEBM's CIFAR-10 code uses leaky ReLU (slope 0.2, TensorFlow's
#: default); its ImageNet and CelebA models use swish, which is our default everywhere.
ACTIVATIONS = {
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
    "elu": nn.ELU,
}

#: Standard deviation of the second convolution of each residual block at initialisation, so
#: every block starts close to the identity (the official code initialises it at 1e-10).
NEAR_ZERO_STD = 1e-10


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of `ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}") from None


def condition_matrix(y: torch.Tensor | None, num_conditions: int | None, batch: int, owner: str) -> torch.Tensor | None:
    """Turn ``y`` into the ``(batch, K)`` float condition matrix, or ``None`` when unconditional.

    Args:
        y: integer class labels ``(batch,)`` or float attribute vectors ``(batch, K)``.
        num_conditions: ``K``, or ``None`` for an unconditional network.
        batch: the batch size ``y`` must match.
        owner: the network's name, for error messages.
    """
    if num_conditions is None:
        return None
    if y is None:
        raise TypeError(
            f"{owner} is conditional (num_classes={num_conditions}): pass y=labels or attribute vectors, "
            "or bind them with energy.condition(y=...)"
        )
    y = torch.as_tensor(y)
    if not y.is_floating_point() and y.shape == (batch,):
        # checked where it runs eager (a compiled sampler step runs eager first; the check would sync)
        if y.numel() and not torch.compiler.is_compiling() and (int(y.min()) < 0 or int(y.max()) >= num_conditions):
            raise ValueError(f"{owner}: labels must lie in [0, {num_conditions}), got {int(y.min())}..{int(y.max())}")
        return F.one_hot(y.long(), num_conditions).float()
    if y.is_floating_point() and y.shape == (batch, num_conditions):
        return y.float()
    raise ValueError(
        f"{owner}: expected y to be integer labels of shape ({batch},) or float vectors of shape "
        f"({batch}, {num_conditions}), got {y.dtype} of shape {tuple(y.shape)}"
    )


class ConditionalGainBias(nn.Module):
    """Per-channel bias on a convolution's input and, optionally, gain on its output."""

    def __init__(self, in_channels: int, out_channels: int, num_conditions: int | None, gain: bool):
        super().__init__()
        rows = num_conditions or 1
        self.input_bias = nn.Parameter(torch.zeros(rows, in_channels))
        self.output_gain = nn.Parameter(torch.zeros(rows, out_channels)) if gain else None

    def _pick(self, table: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        values = table[:1] if cond is None else cond.to(table) @ table
        return rearrange(values, "b c -> b c 1 1")

    def bias(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return x + self._pick(self.input_bias, cond)

    def gain(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if self.output_gain is None:
            return h
        return h * (1.0 + self._pick(self.output_gain, cond))


class ConditionalConv2d(nn.Module):
    """A 'same'-padded convolution with conditional input bias and optional output gain."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        num_conditions: int | None = None,
        gain: bool = False,
        near_zero: bool = False,
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.film = ConditionalGainBias(in_channels, out_channels, num_conditions, gain)
        if near_zero:
            nn.init.normal_(self.conv.weight, std=NEAR_ZERO_STD)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.film.gain(self.conv(self.film.bias(x, cond)), cond)


class ResBlock(nn.Module):
    """IGEBM residual block: conv, act, conv (near-zero init, gain), add shortcut, pool, act.

    The shortcut is the identity, or a 3x3 convolution when the channel count changes (the
    official 'adaptive' bypass). Average pooling by 2 happens after the sum, and only while the
    feature map is at least 2 pixels wide, so deep networks still run on 8x8 images.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        downsample: bool,
        num_conditions: int | None,
        activation: str,
    ):
        super().__init__()
        self.conv1 = ConditionalConv2d(in_channels, out_channels, num_conditions=num_conditions)
        self.conv2 = ConditionalConv2d(
            out_channels, out_channels, num_conditions=num_conditions, gain=True, near_zero=True
        )
        self.shortcut = (
            ConditionalConv2d(in_channels, out_channels, num_conditions=None)
            if in_channels != out_channels else None
        )
        self.downsample = downsample
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.conv2(self.act(self.conv1(x, cond)), cond)
        bypass = x if self.shortcut is None else self.shortcut(x, None)
        h = h + bypass
        if self.downsample and min(h.shape[-2:]) >= 2:
            h = F.avg_pool2d(h, 2)
        return self.act(h)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) so the output has ceil(size / stride) pixels."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
