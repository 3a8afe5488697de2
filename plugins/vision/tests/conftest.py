"""Settings for the vision plugin's tests (its fixtures are in vision_fixtures.py)."""

import os

os.environ.setdefault("ENERGYFLOW_CHECK_METRICS", "1")  # a run fails on a metric its task does not explain
