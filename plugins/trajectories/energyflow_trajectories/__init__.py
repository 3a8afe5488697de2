"""energyflow-trajectories: energies over particle dynamics, long rollouts against a regression baseline.

Registered with energyflow only through the ``energyflow`` entry point
(``trajectories = "energyflow_trajectories.plugin"``), exactly as a third-party plugin would be.
"""

__version__ = "0.1.0"
