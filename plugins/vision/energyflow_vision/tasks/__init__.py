"""Image tasks: sample grids and quality scores, inpainting, denoising, cross-class chains."""

from energyflow_vision.tasks.cross_class import CrossClassTask
from energyflow_vision.tasks.denoise import DenoiseTask, salt_and_pepper
from energyflow_vision.tasks.generate import GenerateImagesTask
from energyflow_vision.tasks.inpaint import InpaintTask, hidden_mask

#: Registration table: name -> (spec, aliases).
TASKS = {
    "generate_images": (GenerateImagesTask, ("image_generate",)),
    "inpaint": (InpaintTask, ()),
    "denoise": (DenoiseTask, ()),
    "cross_class": (CrossClassTask, ()),
}

__all__ = [
    "TASKS", "CrossClassTask", "DenoiseTask", "GenerateImagesTask", "InpaintTask", "hidden_mask", "salt_and_pepper",
]
