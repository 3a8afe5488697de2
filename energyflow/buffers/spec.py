"""Recipe spec for the replay buffer: the ``[buffer]`` table."""

from __future__ import annotations

from attrs import field, frozen
from attrs import validators as v

from energyflow.buffers.replay import POLICIES, STORAGES, ReplayBuffer
from energyflow.registry.build import BuildContext


@frozen(kw_only=True)
class ReplayBufferSpec:
    """A replay buffer sized to the run's data; chains start uniform over the data's value range."""

    capacity: int = field(default=10_000, validator=[v.instance_of(int), v.ge(1)],
                          metadata={"help": "entries kept (split across classes when per_class)"})
    reinit_prob: float = field(default=0.05, converter=float, validator=[v.ge(0.0), v.le(1.0)],
                               metadata={"help": "fraction of each draw restarted from uniform noise"})
    policy: str = field(default="fifo", validator=v.in_(POLICIES), metadata={"help": "fifo or reservoir replacement"})
    per_class: bool = field(default=False, validator=v.instance_of(bool),
                            metadata={"help": "one store per class, drawn by label (conditional models)"})
    storage: str = field(default="float32", validator=v.in_(STORAGES), metadata={"help": "float32 or uint8 (images)"})

    def build(self, ctx: BuildContext) -> ReplayBuffer:
        data = ctx.data
        if self.per_class and (data is None or data.num_classes is None):
            raise ValueError("buffer.per_class needs a dataset with class labels")
        return ReplayBuffer(
            data.sample_shape,
            capacity=self.capacity,
            reinit_prob=self.reinit_prob,
            init_range=data.value_range,
            policy=self.policy,
            per_class=self.per_class,
            num_classes=data.num_classes if self.per_class else None,
            storage=self.storage,
        )
