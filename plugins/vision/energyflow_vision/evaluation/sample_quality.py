"""`ImageQuality`: the offline quality figures of a batch of generated images.

For samples ``S`` it reports, in the feature space of the dataset's own `QualityClassifier`:

- ``cfd``: Frechet distance between ``S`` and the training images;
- ``cfd_real``: the same for as many held-out test images (the floor a perfect model reaches);
- ``cfd_noise``: the same for as many uniform-noise images (the ceiling);
- ``class_coverage``: share of classes predicted at least once among ``S``; ``class_balance``:
  entropy of the predicted-class histogram over log(classes) (1 = uniform);
- ``cond_accuracy``: for conditional samples, the share classified as their conditioning class
  (for attribute vectors, the share of attributes matched);
- ``fid`` / ``kid``: with the FID Inception network (see `quality.inception`), else absent.

Frechet distances are biased upwards for small sample counts, so compare ``cfd`` only with the
``cfd_real`` / ``cfd_noise`` computed beside it, from the same number of images.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from attrs import define, field

from energyflow import TensorData
from energyflow.metrics import frechet_distance
from energyflow_vision.evaluation.inception import (
    INSTALL_HINT,
    InceptionFeatures,
    find_inception,
    inception_scores,
)
from energyflow_vision.evaluation.quality_classifier import (
    QualityClassifier,
    load_or_train,
    predict,
)

#: What each figure of `ImageQuality.evaluate` means (the tasks' metrics tables prefix them with the sample set).
QUALITY_FIGURES: dict[str, str] = {
    "samples": "number of images scored",
    "cfd": "Frechet distance to training images in the features of a classifier trained on the dataset (lower is "
           "better; compare only with the cfd_real and cfd_noise beside it, from as many images)",
    "cfd_real": "the same distance for as many held-out test images: the floor a perfect model reaches",
    "cfd_noise": "the same distance for as many uniform-noise images: the ceiling",
    "classifier_accuracy": "test accuracy of that classifier (per attribute for attribute vectors): how far its "
                           "judgement can be trusted",
    "class_coverage": "share of the classes the classifier finds at least once among the samples (1: all of them)",
    "class_balance": "entropy of the classifier's predicted classes over log(classes): 1 when every class is as "
                     "frequent, 0 when all samples are one class",
    "cond_accuracy": "conditional models: share of samples the classifier puts in the class they were drawn for "
                     "(for attribute vectors, the share of attributes matched)",
    "fid": "with the FID Inception network: Frechet Inception distance to task.fid_reference training images (lower "
           "is better; published FIDs use 50,000 samples)",
    "kid": "with the FID Inception network: kernel Inception distance to the same images (unbiased, 0 for one "
           "distribution; mean over subsets)",
    "kid_std": "standard deviation of KID over its subsets",
    "fid_samples": "samples in the FID and KID",
    "fid_reference": "training images in the FID and KID reference set",
}


def evenly_spaced(images: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` rows spread evenly over ``images`` (all of them if fewer); deterministic."""
    if n >= images.shape[0]:
        return images
    return images[torch.linspace(0, images.shape[0] - 1, n).round().long()]


def resolve_inception(choice: str, device: torch.device | str) -> Path | None:
    """The Inception file to use for ``choice``: ``off``, ``auto`` (if installed and on a GPU), ``on`` or a path."""
    if choice == "off":
        return None
    if choice == "auto":
        return find_inception() if torch.device(device).type == "cuda" else None
    path = find_inception(None if choice == "on" else choice)
    if path is None:
        raise FileNotFoundError(f"inception = 'on' but the FID Inception network is not installed; run `{INSTALL_HINT}`")
    return path


@define(kw_only=True)
class ImageQuality:
    """Scores generated images against a dataset; build it with `ImageQuality.prepare`."""

    data: TensorData
    classifier: QualityClassifier | None
    classifier_accuracy: float | None = None
    inception: InceptionFeatures | None = None
    reference_count: int = 2000
    fid_reference_count: int = 10000
    _reference_feats: torch.Tensor | None = field(default=None, init=False, repr=False)

    @classmethod
    def prepare(cls, data: TensorData, *, cache_dir: Path | str | None = None, classifier_steps: int = 1000,
                inception: str = "auto", device: torch.device | str = "cpu", log=None, **kwargs) -> ImageQuality:
        """Load (or train and cache) the classifier and, if chosen, the Inception network."""
        classifier, acc = None, None
        if data.train_labels is not None and (data.num_classes or 0) >= 2:
            classifier, acc = load_or_train(data, cache_dir=cache_dir, steps=classifier_steps, device=device, log=log)
        path = resolve_inception(inception, device)
        net = InceptionFeatures(path, device) if path is not None else None
        return cls(data=data, classifier=classifier, classifier_accuracy=acc, inception=net, **kwargs)

    def reference_features(self) -> torch.Tensor:
        if self._reference_feats is None:
            self._reference_feats = predict(self.classifier, evenly_spaced(self.data.train, self.reference_count))[0]
        return self._reference_feats

    def evaluate(self, samples: torch.Tensor, labels: torch.Tensor | None = None, *,
                 generator: torch.Generator | None = None) -> dict[str, float]:
        """Quality figures of ``samples`` (conditioned on ``labels`` when given)."""
        samples = samples.detach().float().cpu()
        n = samples.shape[0]
        metrics: dict[str, float] = {"samples": float(n)}
        if self.classifier is not None and n >= 2:
            metrics.update(self._classifier_figures(samples, labels, generator))
        if self.inception is not None and n >= 2:
            reference = evenly_spaced(self.data.train, self.fid_reference_count)
            metrics.update(inception_scores(self.inception, samples, reference, generator))
        return metrics

    def _classifier_figures(self, samples: torch.Tensor, labels: torch.Tensor | None,
                            generator: torch.Generator | None) -> dict[str, float]:
        ref = self.reference_features()
        n = samples.shape[0]
        feats, preds = predict(self.classifier, samples)
        real = evenly_spaced(self.data.test, n)
        low, high = self.data.value_range
        noise = low + (high - low) * torch.rand(samples.shape, generator=generator)
        out = {
            "cfd": frechet_distance(feats, ref),
            "cfd_real": frechet_distance(predict(self.classifier, real)[0], ref),
            "cfd_noise": frechet_distance(predict(self.classifier, noise)[0], ref),
            "classifier_accuracy": float(self.classifier_accuracy),
        }
        if not self.classifier.multilabel:
            counts = torch.bincount(preds, minlength=self.data.num_classes).double()
            share = counts / counts.sum()
            entropy = -(share[share > 0] * share[share > 0].log()).sum()
            out["class_coverage"] = float((counts > 0).double().mean())
            out["class_balance"] = float(entropy / math.log(self.data.num_classes))
        if labels is not None:
            out["cond_accuracy"] = float((preds == labels.cpu().long()).float().mean())
        return out
