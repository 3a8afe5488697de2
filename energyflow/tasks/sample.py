"""``kind = "sample"``: load a trained checkpoint and draw samples from it."""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen
from attrs import validators as v

from energyflow.tasks.context import TaskContext
from energyflow.tasks.generate import SamplingOptions, sample_and_score


@frozen(kw_only=True)
class SampleTask(SamplingOptions):
    """Load a checkpoint, sample with the recipe's sampler, write the picture and metrics."""

    checkpoint: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                   metadata={"help": "checkpoint.pt to load; none for the one in the run folder"})
    from_buffer: bool = field(default=True, validator=v.instance_of(bool),
                              metadata={"help": "also sample from the checkpoint's replay buffer"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        path = Path(self.checkpoint) if self.checkpoint is not None else ctx.out_dir / "checkpoint.pt"
        trainer = ctx.load_checkpoint(path)
        return sample_and_score(ctx, trainer, self, buffer=self.from_buffer)
