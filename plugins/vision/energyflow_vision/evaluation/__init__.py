"""What the image tasks measure with: offline sample quality (a cached dataset classifier, FID/KID when an
Inception network is on disk), long-run chain quality, the energy as a classifier and its softmax baseline,
PGD attacks, out-of-distribution sets, and the setup shared by the tasks that restore images."""

from energyflow_vision.evaluation.attacks import LOSSES, NORMS, pgd
from energyflow_vision.evaluation.energy_classifier import (
    Logits,
    accuracy,
    batched,
    calibrate,
    calibrated,
    energy_logits,
    require_classes,
)
from energyflow_vision.evaluation.inception import (
    InceptionFeatures,
    find_inception,
    kid,
)
from energyflow_vision.evaluation.long_run import (
    floor_ceiling_ratio,
    long_run,
    run_snapshots,
)
from energyflow_vision.evaluation.quality_classifier import (
    QualityClassifier,
    default_cache_dir,
    load_or_train,
    train_classifier,
)
from energyflow_vision.evaluation.sample_quality import (
    ImageQuality,
    evenly_spaced,
    resolve_inception,
)
from energyflow_vision.evaluation.softmax_baseline import (
    SoftmaxClassifier,
    fit_softmax,
    softmax_classifier,
    trained_softmax,
)

__all__ = [
    "LOSSES", "NORMS", "ImageQuality", "InceptionFeatures", "Logits", "QualityClassifier", "SoftmaxClassifier",
    "accuracy", "batched", "calibrate", "calibrated", "default_cache_dir", "energy_logits", "evenly_spaced",
    "find_inception", "fit_softmax", "floor_ceiling_ratio", "kid", "load_or_train", "long_run", "pgd",
    "require_classes", "resolve_inception", "run_snapshots", "softmax_classifier", "train_classifier",
    "trained_softmax",
]
