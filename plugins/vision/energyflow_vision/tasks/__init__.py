"""Image tasks: sample grids and quality scores, inpainting, denoising, cross-class chains, and the
generalization tasks: out-of-distribution scores, the energy as a (robust) classifier, continual learning."""

from energyflow_vision.tasks.classify import ClassifyTask
from energyflow_vision.tasks.continual import ContinualTask
from energyflow_vision.tasks.cross_class import CrossClassTask
from energyflow_vision.tasks.denoise import DenoiseTask, salt_and_pepper
from energyflow_vision.tasks.generate_images import GenerateImagesTask
from energyflow_vision.tasks.inpaint import InpaintTask, hidden_mask
from energyflow_vision.tasks.ood import OodTask
from energyflow_vision.tasks.robust import RobustTask

#: Registration table: name -> (spec, aliases).
TASKS = {
    "generate_images": (GenerateImagesTask, ("image_generate",)),
    "inpaint": (InpaintTask, ()),
    "denoise": (DenoiseTask, ()),
    "cross_class": (CrossClassTask, ()),
    "ood": (OodTask, ("out_of_distribution",)),
    "classify": (ClassifyTask, ()),
    "robust": (RobustTask, ("robustness",)),
    "continual": (ContinualTask, ("class_incremental",)),
}

__all__ = [
    "TASKS", "ClassifyTask", "ContinualTask", "CrossClassTask", "DenoiseTask", "GenerateImagesTask", "InpaintTask", "OodTask",
    "RobustTask", "hidden_mask", "salt_and_pepper",
]
