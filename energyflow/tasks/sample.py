"""``kind = "sample"``: load a trained checkpoint and draw samples from it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from attrs import field, frozen
from attrs import validators as v

from energyflow.tasks.context import Task, TaskContext
from energyflow.tasks.generate import sample_and_score


@frozen(kw_only=True)
class SampleTask(Task):
    """Load a checkpoint, sample with the recipe's sampler, write the picture and metrics."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")

    checkpoint: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                   metadata={"help": "checkpoint.pt to load; none for the one in the run folder"})
    num_samples: int = field(default=2000, validator=[v.instance_of(int), v.ge(2)],
                             metadata={"help": "samples drawn for the picture and the metrics"})
    chain_steps: int = field(default=500, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "steps of the chains started from noise"})
    resolution: int = field(default=200, validator=[v.instance_of(int), v.ge(8)],
                            metadata={"help": "grid cells per axis for the density picture and grid NLL (2-D data)"})
    from_buffer: bool = field(default=True, validator=v.instance_of(bool),
                              metadata={"help": "also sample from the checkpoint's replay buffer"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        path = Path(self.checkpoint) if self.checkpoint is not None else ctx.out_dir / "checkpoint.pt"
        trainer = ctx.load_checkpoint(path)
        return sample_and_score(ctx, trainer, self.num_samples, self.chain_steps, self.resolution,
                                buffer=self.from_buffer)
