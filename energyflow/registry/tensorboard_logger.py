"""Built-in loggers, written as a plugin on the run-lifecycle hooks: other loggers are added the same way.

With ``[run] tensorboard = true`` every training step's numbers and the final metrics also go to
``runs/NAME/tensorboard/`` (needs the ``tensorboard`` package: ``pip install 'energyflow[tensorboard]'``).
"""

from __future__ import annotations

from energyflow.errors import RunError
from energyflow.registry.hookspecs import RunView, hookimpl

KEY = "tensorboard"


@hookimpl
def on_run_start(run: RunView) -> None:
    if not run.recipe.run.tensorboard:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise RunError("run.tensorboard = true needs the tensorboard package: pip install 'energyflow[tensorboard]' "
                       "(or set run.tensorboard = false)") from e
    run.extras[KEY] = SummaryWriter(log_dir=str(run.out_dir / "tensorboard"))


@hookimpl
def on_step(run: RunView, step: int, metrics: dict[str, float]) -> None:
    writer = run.extras.get(KEY)
    if writer is not None:
        for name, value in metrics.items():
            writer.add_scalar(f"train/{name}", value, step)


@hookimpl
def on_run_end(run: RunView, metrics: dict[str, float]) -> None:
    writer = run.extras.pop(KEY, None)
    if writer is not None:
        for name, value in metrics.items():
            writer.add_scalar(f"result/{name}", value, 0)
        writer.close()
