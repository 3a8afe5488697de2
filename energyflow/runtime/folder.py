"""The run folder: claimed before anything is built, never replaced silently, checked for space."""

from __future__ import annotations

import shutil
from pathlib import Path

from energyflow.errors import RunError
from energyflow.runtime.checkpoints import CHECKPOINT

EVENTS = "events.jsonl"
#: a run refuses to start on a disk with less free space than this
MIN_FREE_BYTES = 64 * 2**20
#: files whose presence means a folder holds a run (which a new run must not replace silently)
RUN_FILES = ("recipe.toml", "metrics.json", EVENTS, CHECKPOINT)


def claim_folder(out_dir: Path, *, resume: bool, force: bool) -> bool:
    """Whether an earlier run in ``out_dir`` is to be replaced; a `RunError` if it would be silently,
    or if the folder cannot be written or its disk is nearly full (found now, not at the first checkpoint)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write the run folder {out_dir}: {e.strerror or e}; "
                       "choose another with --out DIR") from e
    free = shutil.disk_usage(out_dir).free
    if free < MIN_FREE_BYTES:
        raise RunError(f"only {free / 2**20:.0f} MiB free on the disk of {out_dir}; checkpoints and pictures "
                       f"need at least {MIN_FREE_BYTES / 2**20:.0f} MiB: free some space or choose --out DIR")
    held = [name for name in RUN_FILES if (out_dir / name).exists()]
    if not held or resume:
        return False
    if not force:
        raise RunError(f"{out_dir} holds a run already ({', '.join(held)}); continue it with --resume, "
                       "replace it with --force, or write elsewhere with --out DIR or --set run.name=NEW")
    return True
