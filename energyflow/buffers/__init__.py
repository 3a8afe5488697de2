"""Replay buffers for persistent chains."""

from energyflow.buffers.replay import ReplayBuffer
from energyflow.buffers.spec import ReplayBufferSpec

__all__ = ["ReplayBuffer", "ReplayBufferSpec"]
