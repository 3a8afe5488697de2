"""A small CNN classifier trained on a dataset's training split, cached on disk, for sample quality.

Its penultimate layer is the feature space of the offline Frechet distance (like FID, but with a
network that knows the dataset and needs no download), and its predictions give class coverage
and conditional accuracy. Integer labels train a softmax classifier; attribute vectors train one
sigmoid per attribute. Training is seeded by a fixed seed, independent of the run, and runs
inside ``torch.random.fork_rng`` so whether the classifier was cached never changes a run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from energyflow import TensorData

#: Bumped whenever the architecture or training changes, so stale cache files are not reused.
CLASSIFIER_VERSION = 1


def default_cache_dir() -> Path:
    """``$ENERGYFLOW_CACHE``, else ``$XDG_CACHE_HOME/energyflow``, else ``~/.cache/energyflow``."""
    if os.environ.get("ENERGYFLOW_CACHE"):
        return Path(os.environ["ENERGYFLOW_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "energyflow"


class QualityClassifier(nn.Module):
    """Three 3x3 convolutions (the last two strided), global average pooling, a feature layer, logits.

    Args:
        in_channels: image channels.
        num_outputs: classes (softmax) or attributes (one sigmoid each).
        width: channels of the first convolution; the feature layer has ``4 * width`` units.
        multilabel: attribute vectors instead of class labels.
    """

    def __init__(self, in_channels: int, num_outputs: int, width: int = 32, multilabel: bool = False):
        super().__init__()
        self.multilabel = multilabel
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.SiLU(),
        )
        self.feature = nn.Linear(4 * width, 4 * width)
        self.out = nn.Linear(4 * width, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(batch, 4 * width)``."""
        pooled = reduce(self.body(x), "b c h w -> b c", "mean")
        return F.silu(self.feature(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def fingerprint(data: TensorData) -> str:
    """A short hash of the test split (deterministic, never dequantized) and the split sizes."""
    digest = hashlib.sha1()
    digest.update(f"{data.name}|{tuple(data.train.shape)}|{tuple(data.test.shape)}|v{CLASSIFIER_VERSION}".encode())
    sample = data.test[:: max(1, data.test.shape[0] // 512)]
    digest.update((sample * 255).round().to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def _loss(model: QualityClassifier, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if model.multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels.long())


@torch.no_grad()
def predict(model: QualityClassifier, images: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and predictions (class index, or {0, 1} per attribute) for ``images``."""
    model.eval()
    device = next(model.parameters()).device
    feats, preds = [], []
    for chunk in images.split(batch_size):
        h = model.features(chunk.to(device))
        logits = model.out(h)
        feats.append(h.cpu())
        preds.append((logits > 0).long().cpu() if model.multilabel else logits.argmax(1).cpu())
    return torch.cat(feats), torch.cat(preds)


def accuracy(model: QualityClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Test accuracy (per attribute, averaged, for attribute vectors)."""
    _, preds = predict(model, images)
    return float((preds == labels.long()).float().mean())


def train_classifier(
    data: TensorData,
    *,
    steps: int = 1000,
    batch_size: int = 128,
    width: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> QualityClassifier:
    """Train a `QualityClassifier` on ``data``'s training split with Adam."""
    if data.train_labels is None or data.num_classes is None:
        raise ValueError(f"quality classifier: dataset {data.name!r} has no labels to train on")
    generator = torch.Generator().manual_seed(seed)
    multilabel = data.train_labels.is_floating_point()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = QualityClassifier(data.sample_shape[0], data.num_classes, width, multilabel).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    n = data.train.shape[0]
    for _ in range(steps):
        idx = torch.randint(n, (min(batch_size, n),), generator=generator)
        x, y = data.train[idx].to(device), data.train_labels[idx].to(device)
        loss = _loss(model, model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def load_or_train(
    data: TensorData,
    *,
    cache_dir: Path | str | None = None,
    steps: int = 1000,
    width: int = 32,
    device: torch.device | str = "cpu",
    log=None,
) -> tuple[QualityClassifier, float]:
    """The cached classifier for ``data`` (trained and saved on first use) and its test accuracy.

    The cache file is ``<cache_dir>/classifiers/<name>-<CxHxW>-<fingerprint>-s<steps>w<width>.pt``.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    shape = "x".join(map(str, data.sample_shape))
    path = cache / "classifiers" / f"{data.name}-{shape}-{fingerprint(data)}-s{steps}w{width}.pt"
    multilabel = data.train_labels is not None and data.train_labels.is_floating_point()
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):
            model = QualityClassifier(data.sample_shape[0], data.num_classes, width, multilabel)
        model.load_state_dict(state["model"])
        return model.to(device).eval(), float(state["test_accuracy"])
    if log is not None:
        log(f"training the quality classifier for {data.name} ({steps} steps); cached at {path}")
    model = train_classifier(data, steps=steps, width=width, device=device)
    acc = accuracy(model, data.test, data.test_labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "test_accuracy": acc, "version": CLASSIFIER_VERSION}, tmp)
    tmp.replace(path)
    return model, acc


def flat(images: torch.Tensor) -> torch.Tensor:
    """Images as rows ``(batch, C*H*W)``."""
    return rearrange(images, "b ... -> b (...)")
