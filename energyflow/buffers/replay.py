"""Replay buffer: keeps Langevin chains alive between updates (persistent contrastive divergence)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from energyflow.samplers.starts import uniform_starts

InitFn = Callable[[int, torch.Generator | None], torch.Tensor]

POLICIES = ("fifo", "reservoir")
STORAGES = ("float32", "uint8")


class _Store:
    """A fixed-capacity ring of samples under FIFO or reservoir replacement."""

    def __init__(self, capacity: int, policy: str):
        self.capacity = capacity
        self.policy = policy
        self.data: torch.Tensor | None = None
        self.size = 0
        self.seen = 0  # samples ever offered (reservoir) / next write slot (fifo)

    def push(self, encoded: torch.Tensor, generator: torch.Generator | None) -> None:
        if self.data is None:
            self.data = torch.empty((self.capacity, *encoded.shape[1:]), dtype=encoded.dtype)
        for start in range(0, encoded.shape[0], self.capacity):
            self._push_chunk(encoded[start : start + self.capacity], generator)

    def _push_chunk(self, chunk: torch.Tensor, generator: torch.Generator | None) -> None:
        n = chunk.shape[0]
        if self.policy == "fifo":
            slots = (self.seen + torch.arange(n)) % self.capacity
            self.data[slots] = chunk
        else:  # reservoir: the i-th sample ever seen is kept with probability capacity / i
            order = self.seen + torch.arange(n)
            fill = order < self.capacity
            draws = (torch.rand(n, generator=generator) * (order + 1)).long()
            slots = torch.where(fill, order, draws)
            keep = slots < self.capacity
            self.data[slots[keep]] = chunk[keep]
        self.seen += n
        self.size = min(self.capacity, self.size + n)

    def draw(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        idx = torch.randint(self.size, (n,), generator=generator)
        return self.data[idx]

    def state_dict(self) -> dict[str, Any]:
        data = None if self.data is None else self.data[: self.size].clone()
        return {"data": data, "size": self.size, "seen": self.seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.seen = int(state["size"]), int(state["seen"])
        self.data = None
        if state["data"] is not None:
            saved = state["data"]
            self.data = torch.empty((self.capacity, *saved.shape[1:]), dtype=saved.dtype)
            self.data[: saved.shape[0]] = saved


class ReplayBuffer:
    """Stores past negative samples; each draw restarts ``reinit_prob`` of the chains from scratch.

    Args:
        sample_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 8, 8)``.
        capacity: entries kept (in total; split evenly across classes when ``per_class``).
        reinit_prob: fraction of each draw restarted from the init distribution.
        init_range: ``(low, high)`` of the uniform init distribution (and of uint8 storage).
        init: optional ``init(n, generator) -> Tensor`` replacing the uniform init.
        policy: ``"fifo"`` replaces the oldest entries; ``"reservoir"`` keeps a uniform sample
            of everything ever pushed.
        per_class: keep one store per class and draw by label (conditional models).
        num_classes: number of classes, required with ``per_class``.
        storage: ``"float32"`` or ``"uint8"`` (images: 4x less memory, 1/255 quantisation).
    """

    def __init__(
        self,
        sample_shape: tuple[int, ...],
        *,
        capacity: int = 10_000,
        reinit_prob: float = 0.05,
        init_range: tuple[float, float] = (0.0, 1.0),
        init: InitFn | None = None,
        policy: str = "fifo",
        per_class: bool = False,
        num_classes: int | None = None,
        storage: str = "float32",
    ):
        if capacity < 1:
            raise ValueError(f"ReplayBuffer: capacity must be >= 1, got {capacity}")
        if not 0.0 <= reinit_prob <= 1.0:
            raise ValueError(f"ReplayBuffer: reinit_prob must be in [0, 1], got {reinit_prob}")
        if policy not in POLICIES:
            raise ValueError(f"ReplayBuffer: policy must be one of {POLICIES}, got {policy!r}")
        if storage not in STORAGES:
            raise ValueError(f"ReplayBuffer: storage must be one of {STORAGES}, got {storage!r}")
        if per_class and (num_classes is None or num_classes < 1):
            raise ValueError("ReplayBuffer: per_class=True needs num_classes >= 1")
        low, high = (float(v) for v in init_range)
        if not low < high:
            raise ValueError(f"ReplayBuffer: init_range must have low < high, got {init_range}")
        self.sample_shape = tuple(sample_shape)
        self.reinit_prob = reinit_prob
        self.init_range = (low, high)
        self.init = init
        self.storage = storage
        self.per_class = per_class
        #: sample and push take each batch's labels (the buffer protocol's flag; here: one store per class)
        self.uses_labels = per_class
        self.num_classes = num_classes if per_class else None
        stores = num_classes if per_class else 1
        self.stores = [_Store(max(1, capacity // stores), policy) for _ in range(stores)]

    def __len__(self) -> int:
        return sum(store.size for store in self.stores)

    def init_samples(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fresh chain starts from the init distribution."""
        if self.init is not None:
            return self.init(n, generator)
        return uniform_starts(n, self.sample_shape, self.init_range, generator)

    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        reinit_prob: float | None = None,
    ) -> torch.Tensor:
        """``n`` chain starts: stored samples, with ``reinit_prob`` of them (and all while empty) fresh.

        ``reinit_prob`` overrides the buffer's share for this draw (``0.0`` reads stored chains only).
        """
        labels = self._check_labels(labels, n)
        share = self.reinit_prob if reinit_prob is None else reinit_prob
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"ReplayBuffer.sample: reinit_prob must be in [0, 1], got {share}")
        out = self.init_samples(n, generator)
        restart = torch.rand(n, generator=generator) < share
        for c, store in enumerate(self.stores):
            rows = ~restart if labels is None else ~restart & (labels == c)
            count = int(rows.sum())
            if store.size and count:
                out[rows] = self._decode(store.draw(count, generator))
        return out if device is None else out.to(device)

    def push(self, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> None:
        """Store samples (moved to CPU), by class when ``per_class``."""
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"ReplayBuffer.push: expected samples of shape {self.sample_shape}, got {tuple(x.shape[1:])}")
        labels = self._check_labels(labels, x.shape[0])
        encoded = self._encode(x.detach().cpu())
        for c, store in enumerate(self.stores):
            chunk = encoded if labels is None else encoded[labels == c]
            if chunk.shape[0]:
                store.push(chunk, generator)

    def _check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.per_class:
            return None
        if labels is None:
            raise ValueError("ReplayBuffer: per_class buffer needs labels=")
        labels = torch.as_tensor(labels).cpu()
        if labels.shape != (n,):
            raise ValueError(f"ReplayBuffer: labels must have shape ({n},), got {tuple(labels.shape)}")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"ReplayBuffer: labels must be in [0, {self.num_classes}), got {labels.min()}..{labels.max()}")
        return labels

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.storage == "float32":
            return x.float()
        low, high = self.init_range
        return ((x - low) / (high - low) * 255).round().clamp(0, 255).to(torch.uint8)

    def _decode(self, stored: torch.Tensor) -> torch.Tensor:
        if self.storage == "float32":
            return stored.clone()
        low, high = self.init_range
        return low + stored.float() / 255 * (high - low)

    def state_dict(self) -> dict[str, Any]:
        return {"stores": [store.state_dict() for store in self.stores]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["stores"]) != len(self.stores):
            raise ValueError(f"ReplayBuffer.load_state_dict: expected {len(self.stores)} stores, got {len(state['stores'])}")
        for store, saved in zip(self.stores, state["stores"]):
            store.load_state_dict(saved)
