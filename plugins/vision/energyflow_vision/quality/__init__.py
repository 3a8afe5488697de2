"""Offline sample quality: a cached dataset classifier's Frechet distance, coverage, FID/KID if available."""

from energyflow_vision.quality.classifier import QualityClassifier, default_cache_dir, load_or_train, train_classifier
from energyflow_vision.quality.inception import InceptionFeatures, find_inception, kid
from energyflow_vision.quality.report import ImageQuality, evenly_spaced

__all__ = [
    "ImageQuality", "InceptionFeatures", "QualityClassifier", "default_cache_dir", "evenly_spaced", "find_inception",
    "kid", "load_or_train", "train_classifier",
]
