"""Tiny dataset files in every layout the vision loaders read, written into a test's tmp_path."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from energyflow import BuildContext

CELEBA_ATTRIBUTES = ["Male", "Smiling", "Young"]


def ctx(seed: int = 0) -> BuildContext:
    import torch

    return BuildContext(generator=torch.Generator().manual_seed(seed))


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (unsigned bytes) holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 12, n_test: int = 6, gz: bool = True, side: int = 28) -> dict:
    """The four MNIST IDX files in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return arrays


def write_cifar(root: Path, per_batch: int = 4) -> np.ndarray:
    """cifar-10-batches-py/ with five tiny training batches and a test batch; returns batch 1's data."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": list(range(per_batch))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10}, f)
    return first


def write_imagenet32(root: Path, per_batch: int = 3, batches: int = 10, side: int = 32) -> None:
    """train_data_batch_1..N.npz and val_data.npz with 1-based labels."""
    rng = np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"train_data_batch_{i}" for i in range(1, batches + 1)] + ["val_data"]:
        data = rng.integers(0, 256, (per_batch, 3 * side * side), dtype=np.uint8)
        np.savez(root / f"{name}.npz", data=data, labels=np.arange(1, per_batch + 1), mean=np.zeros(3))


def write_celeba(root: Path, n: int = 6) -> None:
    """img_align_celeba/*.jpg (178x218), list_attr_celeba.txt and list_eval_partition.txt."""
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    attr_lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    parts = []
    for i in range(1, n + 1):
        name = f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(folder / name)
        values = ["1" if (i + j) % 2 else "-1" for j in range(len(CELEBA_ATTRIBUTES))]
        attr_lines.append(f"{name} " + "  ".join(values))
        parts.append(f"{name} {0 if i <= n - 2 else 2}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")


def write_picture(path: Path, side: int = 10, mode: str = "RGB", seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (side, side, 3) if mode == "RGB" else (side, side)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)


def task_sentences(out: Path) -> list[str]:
    """The task's own sentences in a run folder's ``summary.txt`` (before the run's lines on pictures and numbers)."""
    lines = (out / "summary.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith(("Pictures: ", "All "))]
