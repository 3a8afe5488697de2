"""energyflow-vision: image energies, image datasets and image tasks for energyflow.

Registered with energyflow only through the ``energyflow`` entry point
(``energyflow_vision.plugin``), exactly as a third-party plugin would be.
"""

__version__ = "0.1.0"
